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

#include "cidr.h"

#define CONF_NAME_MAX    32
#define CONF_PATH_MAX    108 /* sun_path */
#define CONF_QUEUES_MAX  64  /* NFQUEUE numbers per daemon (queue_last - queue_first + 1) */
#define CONF_USER_MAX    32  /* user name, NUL included */
#define CONF_FILE_MAX    256 /* other file paths, NUL included */
#define CONF_DEVICES_MAX 64  /* daemon.devices entries (the fast path's links, fpdev.h) */
#define CONF_IFNAME_MAX  16  /* IFNAMSIZ, NUL included */

enum conf_firewall { CONF_FW_IPTABLES, CONF_FW_NONE };
/* local: the protected server itself listens on the listener's address and port; the
 * kernel fast path (TC) hands it each proven connection (no backend). */
enum conf_handoff { CONF_HANDOFF_PROXY, CONF_HANDOFF_PASSFD, CONF_HANDOFF_LOCAL };
enum conf_mode { CONF_MODE_COOKIE, CONF_MODE_STATEFUL, CONF_MODE_AUTO };
enum conf_overflow { CONF_OVERFLOW_DROP, CONF_OVERFLOW_RESET };
enum conf_queue_full { CONF_QUEUE_FULL_DROP, CONF_QUEUE_FULL_ACCEPT };
enum conf_datapath { CONF_DATAPATH_NFQUEUE, CONF_DATAPATH_XDP };

#define CONF_CIDRS_MAX 65536 /* entries of one allow or deny list */

/* Limits per source prefix (the address cut to prefix_v4 / prefix_v6 bits). */
struct conf_per_source {
	uint32_t syn_rate;        /* SYNs per second a prefix may send; 0: no limit */
	uint32_t burst;           /* SYNs a prefix may send at once (bucket depth) */
	uint8_t prefix_v4;        /* 24..32 */
	uint8_t prefix_v6;        /* 48..64 */
	uint32_t max_connections; /* concurrent connections per prefix; 0: no cap */
	uint32_t table_size;      /* prefixes the SYN rate limiter tracks, per queue thread */
};

/* TCP keepalive on the sockets the daemon holds for clients and backends. */
struct conf_keepalive {
	uint32_t idle;     /* seconds of silence before the first probe; 0: keepalive off */
	uint32_t interval; /* seconds between probes */
	uint32_t count;    /* unanswered probes before the connection is dropped */
};

struct conf_policy {
	char name[CONF_NAME_MAX];
	enum conf_mode mode;
	uint16_t mss[4];  /* IPv4 MSS table, ascending, padded to 4 entries */
	uint16_t mss6[4]; /* IPv6 MSS table, ascending, padded to 4 entries */
	uint8_t wscale;   /* our receive window scale, 0..14 */
	bool sack;
	bool timestamps;
	uint32_t idle_timeout; /* seconds without data in either direction before a relay closes */

	/* stateful and auto modes: the half-open table (per listener, shared out among the
	 * queue threads) */
	uint32_t half_open_max;        /* entries */
	uint32_t half_open_per_source; /* entries per source prefix; 0: no cap */
	uint8_t synack_retries;        /* SYN-ACK retransmits, 1 s apart doubling, 0..15 */
	/* auto mode: cookies when either trigger is reached, back after auto_calm_time */
	uint32_t syn_rate_trigger;      /* SYNs per second per listener; 0: never */
	uint8_t half_open_fill_trigger; /* percent of the half-open table, 1..100 */
	uint32_t auto_calm_time;        /* seconds */

	/* the accept queue: proven connections waiting for their backend */
	uint32_t accept_backlog;
	enum conf_overflow accept_overflow;
	uint32_t accept_timeout;       /* seconds a connection may wait in it */
	uint32_t max_connections;      /* per listener, accept queue + relayed; 0: no cap */
	uint32_t max_backend_connects; /* backend connects in flight per listener (proxy) */

	struct conf_per_source per_source;
	/* Access lists, longest prefix wins between them: deny drops SYNs and ACKs, allow
	 * skips the per-source limits. Never the same prefix in both. */
	struct cidr *allow;
	size_t n_allow;
	struct cidr *deny;
	size_t n_deny;
	struct conf_keepalive keepalive;
};

struct conf_listener {
	char name[CONF_NAME_MAX];
	int family;       /* AF_INET or AF_INET6 */
	uint8_t addr[16]; /* network order; all zero for a wildcard */
	bool wildcard;
	uint16_t port;
	enum conf_handoff handoff;
	/* proxy: backend address; pass-fd: the Unix socket backends connect to; local: none
	 * (backend_len 0) */
	struct sockaddr_storage backend;
	socklen_t backend_len;
	uint8_t proxy_protocol; /* 0: none, 1: PROXY v1 text, 2: PROXY v2 binary */
	size_t policy;          /* index into conf.policies */
};

/* CPUs a queue_cpus list may name, and the highest CPU number it accepts. */
#define CONF_QUEUE_CPUS_MAX 64
#define CONF_CPU_MAX        1023

struct conf_daemon {
	uint16_t queue_first; /* NFQUEUE numbers queue_first..queue_last */
	uint16_t queue_last;
	enum conf_firewall firewall;
	bool fail_open; /* rules with --queue-bypass: no daemon, packets go to the kernel */
	/* a packet that finds its NFQUEUE queue full: dropped (counted by the kernel), or
	 * accepted into the kernel's TCP (NFQA_CFG_F_FAIL_OPEN, uncounted) */
	enum conf_queue_full queue_full;
	char control_socket[CONF_PATH_MAX];
	uint32_t cookie_rotation; /* seconds per cookie key epoch */
	char user[CONF_USER_MAX]; /* account a daemon started as root switches to */
	/* Prometheus endpoint (HTTP GET /metrics); metrics_len 0: disabled */
	struct sockaddr_storage metrics;
	socklen_t metrics_len;
	/* cookie master key source: "" keeps random keys in memory only */
	char cookie_secret_file[CONF_FILE_MAX];
	/* queue thread i runs on CPU queue_cpus[i % n_queue_cpus]; none: wherever the
	 * scheduler puts it */
	uint16_t queue_cpus[CONF_QUEUE_CPUS_MAX];
	uint8_t n_queue_cpus;
	/* SCHED_RR priority of the queue threads (1..99); 0: normal scheduling */
	uint8_t queue_priority;
	/* nice value of the queue threads (-20..19) under normal scheduling */
	int8_t queue_nice;
	/* answer SYNs at layer 2, on the device and to the MAC they came from (tx.h) */
	bool synack_layer2;
	/* where SYNs are answered first: the NFQUEUE path, or XDP in the driver (xdppath.h) */
	enum conf_datapath datapath;
	/* datapath "xdp": the devices it attaches to; none listed: every usable device */
	char devices[CONF_DEVICES_MAX][CONF_IFNAME_MAX];
	uint8_t n_devices;
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

/* The name of a mode ("cookie", "stateful", "auto") and of an overflow action. */
const char *conf_mode_name(enum conf_mode m);
const char *conf_overflow_name(enum conf_overflow o);

/* Index of the listener for a destination address and port (exact address
 * before wildcard), or -1. addr is network order, 4 or 16 bytes by family. */
int conf_match_listener(const struct conf *c, int family, const uint8_t *addr, uint16_t port);

/* The policy of listener i (i < c->n_listeners). */
static inline const struct conf_policy *conf_listener_policy(const struct conf *c, size_t i)
{
	return &c->policies[c->listeners[i].policy];
}

#endif
