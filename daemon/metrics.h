/*
 * Prometheus metrics over HTTP: GET /metrics on daemon.metrics_listen.
 *
 * A tiny HTTP/1.0 server on the main loop, as careful as the control socket:
 * non-blocking, one request per connection, the request bounded
 * (METRICS_REQ_MAX), a deadline per client (METRICS_TIMEOUT), a cap on
 * clients in flight (METRICS_CLIENTS_MAX). Only GET /metrics exists: other
 * paths get 404, other methods 405.
 *
 * Exposition (text format 0.0.4), names prefixed synguard_, counters ending
 * in _total:
 * - every stats.h counter and gauge per listener (summed over the threads'
 *   blocks): synguard_<name>_total{listener="web"}; packets that matched no
 *   listener carry listener="(unmatched)", a name no listener can have;
 * - the same per queue thread (folded over listeners), in their own
 *   families so that no sum counts twice: synguard_queue_<name>_total{queue="0"};
 * - the kernel's view of our NFQUEUE queues from
 *   /proc/self/net/netfilter/nfnetlink_queue: synguard_nfqueue_dropped_total
 *   (queue full), synguard_nfqueue_user_dropped_total (netlink buffer full),
 *   synguard_nfqueue_length (packets waiting now).
 */
#ifndef SYNGUARD_METRICS_H
#define SYNGUARD_METRICS_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "control.h"

#define METRICS_REQ_MAX     4096
#define METRICS_TIMEOUT     5.0
#define METRICS_CLIENTS_MAX 16

#define METRICS_NFQUEUE_PROC "/proc/self/net/netfilter/nfnetlink_queue"

/* One line of /proc/net/netfilter/nfnetlink_queue. */
struct metrics_nfq {
	uint16_t queue;
	uint32_t portid;
	uint64_t length;       /* queue_total: packets waiting */
	uint64_t dropped;      /* queue_dropped: queue was full */
	uint64_t user_dropped; /* queue_user_dropped: netlink socket buffer was full */
};

/* Pure: finds queue `num` in the file's text. 0 with *out filled, -1 when absent or malformed. */
int metrics_nfq_find(const char *text, uint16_t num, struct metrics_nfq *out);

/* Pure: writes the exposition for the source; nfq_text is the NFQUEUE proc file or NULL. */
void metrics_render(FILE *out, const struct control_source *src, const char *nfq_text);

enum metrics_req {
	METRICS_REQ_INCOMPLETE, /* no end of headers yet */
	METRICS_REQ_OK,         /* GET /metrics */
	METRICS_REQ_NOT_FOUND,  /* GET of another path */
	METRICS_REQ_BAD_METHOD, /* not GET */
	METRICS_REQ_BAD,        /* not an HTTP request line */
};

/* Pure: classifies the request bytes received so far. */
enum metrics_req metrics_parse_request(const char *buf, size_t len);

/*
 * Opens the kernel's NFQUEUE table for the scrapes to come. The file is mode
 * 0440 root:root, so a daemon started as root opens it before dropping
 * privileges and keeps the descriptor; under systemd the unit gives group
 * synguard read access first (ExecStartPre). -1 with errno when it cannot.
 */
int metrics_nfq_open(void);

struct metrics;

/* Listens on addr; takes nfq_fd (-1: try to open the table at each scrape). NULL + err on
 * failure (nfq_fd is closed then too). */
struct metrics *metrics_new(struct ev_loop *loop, const struct sockaddr *addr, socklen_t addrlen,
                            const struct control_source *src, int nfq_fd, char *err, size_t errlen);
void metrics_free(struct metrics *m);

/* The port actually bound (useful when addr asked for port 0). */
uint16_t metrics_port(const struct metrics *m);

/* Whether an address is loopback (127.0.0.0/8, ::1, ::ffff:127.0.0.0/104). */
bool metrics_addr_is_loopback(const struct sockaddr *addr);

/* "127.0.0.1:9477" / "[::1]:9477" */
void metrics_addr_str(const struct sockaddr *addr, char *buf, size_t len);

#endif
