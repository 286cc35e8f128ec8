/*
 * systemd notifications: watchdog pings and a periodic STATUS= line. See
 * notify.h. Both timers run on the main loop, so a ping proves that the loop
 * which serves the handoff, the control socket and the metrics still turns.
 */
#include "notify.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>

#include "log.h"

struct notify {
	struct ev_loop *loop;
	struct control_source src;
	char modes[64];
	struct notify_sample last;
	ev_timer watchdog;
	ev_timer status;
	bool has_watchdog;
};

void notify_sample_take(const struct control_source *src, double when, struct notify_sample *s)
{
	memset(s, 0, sizeof(*s));
	s->when = when;
	for (size_t b = 0; b <= src->n_queues; b++) {
		const struct stats_block *blk = src->blocks[b];

		if (!blk)
			continue;
		for (size_t r = 0; r < blk->n_rows; r++) {
			const uint64_t *v = blk->rows[r].v;

			s->syn += __atomic_load_n(&v[ST_SYN_RECEIVED], __ATOMIC_RELAXED);
			s->ack_valid += __atomic_load_n(&v[ST_ACK_VALID], __ATOMIC_RELAXED);
			s->handoffs += __atomic_load_n(&v[ST_HANDOFFS], __ATOMIC_RELAXED);
			s->active +=
			    (int64_t)__atomic_load_n(&v[ST_ACTIVE_CONNECTIONS], __ATOMIC_RELAXED);
		}
	}
	/* SYNs answered in XDP never reach a queue thread: the SYN rate counts them too */
	if (src->conf) {
		const struct control_kcounters *xdp =
		    control_source_xdp(src, src->conf->n_listeners + 1);

		for (size_t r = 0; xdp && r < xdp->sum->n_rows; r++)
			s->syn += xdp->sum->rows[r].v[ST_SYN_RECEIVED];
	}
}

bool notify_fd_is_journal(int fd, const char *journal_stream)
{
	unsigned long long dev, ino;
	struct stat st;
	int end = 0;

	if (!journal_stream || sscanf(journal_stream, "%llu:%llu%n", &dev, &ino, &end) != 2 ||
	    journal_stream[end] != '\0')
		return false;
	if (fstat(fd, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void notify_modes(const struct conf *conf, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < conf->n_listeners; i++) {
		const char *m = conf_mode_name(conf_listener_policy(conf, i)->mode);
		bool seen = false;

		for (size_t j = 0; j < i && !seen; j++)
			seen = strcmp(m, conf_mode_name(conf_listener_policy(conf, j)->mode)) == 0;
		if (seen)
			continue;
		int w = snprintf(buf + n, len - n, "%s%s", n ? "+" : "", m);

		if (w < 0 || (size_t)w >= len - n)
			break;
		n += (size_t)w;
	}
}

static double rate(uint64_t a, uint64_t b, double dt)
{
	return b >= a && dt > 0 ? (double)(b - a) / dt : 0;
}

void notify_format_status(char *buf, size_t len, const char *modes,
                          const struct notify_sample *prev, const struct notify_sample *cur)
{
	double dt = cur->when - prev->when;

	snprintf(buf, len,
	         "mode %s; %.0f SYN/s, %.0f valid ACK/s, %.0f handoffs/s; %" PRId64
	         " active; %" PRIu64 " handoffs in all",
	         modes, rate(prev->syn, cur->syn, dt), rate(prev->ack_valid, cur->ack_valid, dt),
	         rate(prev->handoffs, cur->handoffs, dt), cur->active, cur->handoffs);
}

/* Rates divide by monotonic time: ev_now() is the wall clock, which a time step (NTP, a
 * resumed virtual machine) moves by seconds between two samples. */
static double mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_watchdog(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	sd_notify(0, "WATCHDOG=1");
}

static void on_status(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct notify *n = w->data;
	struct notify_sample now;
	char status[256];

	(void)loop;
	(void)revents;
	notify_sample_take(&n->src, mono_now(), &now);
	/* a reload may have changed the policies since the last update */
	notify_modes(n->src.conf, n->modes, sizeof(n->modes));
	notify_format_status(status, sizeof(status), n->modes, &n->last, &now);
	sd_notifyf(0, "STATUS=%s", status);
	n->last = now;
}

struct notify *notify_new(struct ev_loop *loop, const struct control_source *src)
{
	const char *sock = getenv("NOTIFY_SOCKET");
	struct notify *n;
	uint64_t usec = 0;

	if (!sock || !*sock)
		return NULL;
	n = calloc(1, sizeof(*n));
	if (!n) {
		log_warnx("notify: out of memory: no watchdog pings or status updates");
		return NULL;
	}
	n->loop = loop;
	n->src = *src;
	notify_modes(src->conf, n->modes, sizeof(n->modes));
	notify_sample_take(src, mono_now(), &n->last);

	if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
		double every = (double)usec / 2e6;

		ev_timer_init(&n->watchdog, on_watchdog, 0., every);
		ev_timer_again(loop, &n->watchdog);
		sd_notify(0, "WATCHDOG=1");
		n->has_watchdog = true;
		log_info("systemd watchdog: %.1f s, pinging every %.1f s", (double)usec / 1e6,
		         every);
	}
	ev_timer_init(&n->status, on_status, NOTIFY_STATUS_INTERVAL, NOTIFY_STATUS_INTERVAL);
	n->status.data = n;
	ev_timer_start(loop, &n->status);
	return n;
}

void notify_free(struct notify *n)
{
	if (!n)
		return;
	if (n->has_watchdog)
		ev_timer_stop(n->loop, &n->watchdog);
	ev_timer_stop(n->loop, &n->status);
	free(n);
}
