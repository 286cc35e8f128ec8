/*
 * synguard configuration: parsed from libconfig text into a plain struct and
 * validated completely, so the daemon can build a new configuration, check
 * it, and only then swap it in. No I/O: the caller reads the file.
 *
 * Every error names the file, the line and the key, and says what is allowed:
 *   "synguard.conf:12: listeners.[0].port: must be an integer 1..65535"
 * Errors of the text itself have no key: "synguard.conf:3: syntax error: ...".
 * A missing key is reported at the line of the group that should hold it.
 * "@include" is refused: the whole configuration is one text.
 */
#ifndef SYNGUARD_CONF_H
#define SYNGUARD_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>

#define CONF_NAME_MAX   32
#define CONF_PATH_MAX   108 /* sun_path */
#define CONF_QUEUES_MAX 64  /* NFQUEUE numbers per daemon (queue_last - queue_first + 1) */
#define CONF_USER_MAX   32  /* user name, NUL included */
#define CONF_FILE_MAX   256 /* other file paths, NUL included */

enum conf_firewall { CONF_FW_IPTABLES, CONF_FW_NONE };
enum conf_handoff { CONF_HANDOFF_PROXY, CONF_HANDOFF_PASSFD };
enum conf_mode { CONF_MODE_COOKIE };

struct conf_policy {
	char name[CONF_NAME_MAX];
	enum conf_mode mode;
	uint16_t mss[4];  /* IPv4 MSS table, ascending, padded to 4 entries */
	uint16_t mss6[4]; /* IPv6 MSS table, ascending, padded to 4 entries */
	uint8_t wscale;   /* our receive window scale, 0..14 */
	bool sack;
	bool timestamps;
	uint32_t idle_timeout; /* seconds without data in either direction before a relay closes */
};

struct conf_listener {
	char name[CONF_NAME_MAX];
	int family;       /* AF_INET or AF_INET6 */
	uint8_t addr[16]; /* network order; all zero for a wildcard */
	bool wildcard;
	uint16_t port;
	enum conf_handoff handoff;
	/* proxy: backend address; pass-fd: the Unix socket backends connect to */
	struct sockaddr_storage backend;
	socklen_t backend_len;
	uint8_t proxy_protocol; /* 0: none, 1: PROXY v1 text, 2: PROXY v2 binary */
	size_t policy;          /* index into conf.policies */
};

struct conf_daemon {
	uint16_t queue_first; /* NFQUEUE numbers queue_first..queue_last */
	uint16_t queue_last;
	enum conf_firewall firewall;
	bool fail_open;
	char control_socket[CONF_PATH_MAX];
	uint32_t cookie_rotation; /* seconds per cookie key epoch */
	char user[CONF_USER_MAX]; /* account a daemon started as root switches to */
	/* Prometheus endpoint (HTTP GET /metrics); metrics_len 0: disabled */
	struct sockaddr_storage metrics;
	socklen_t metrics_len;
	/* cookie master key source: "" keeps random keys in memory only */
	char cookie_secret_file[CONF_FILE_MAX];
};

struct conf {
	struct conf_daemon daemon;
	struct conf_listener *listeners;
	size_t n_listeners;
	struct conf_policy *policies;
	size_t n_policies;
};

/*
 * Parses and validates configuration text. `filename` is used in messages
 * only. Returns 0 and a new object in *out, or -1 with a message in err.
 */
int conf_parse(const char *text, const char *filename, struct conf **out, char *err, size_t errlen);
void conf_free(struct conf *c);

/* Index of the listener for a destination address and port (exact address
 * before wildcard), or -1. addr is network order, 4 or 16 bytes by family. */
int conf_match_listener(const struct conf *c, int family, const uint8_t *addr, uint16_t port);

#endif
