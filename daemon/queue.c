/*
 * One NFQUEUE queue, one thread, one libev loop. See queue.h.
 *
 * The loop's only I/O watcher is the netlink socket. When it is readable the
 * thread reads packet messages with recvmmsg() until EAGAIN (or a bounded
 * number of rounds, so the flush below is never starved), and decides each
 * packet at once:
 *
 *   SYN to a listener    -> the policy decides (policy.h): deny list and per-source
 *                           rate (DROP, counted), then a SYN-ACK into the raw-socket
 *                           batch, backed by a half-open entry or by its cookie alone;
 *                           DROP (the SYN itself never reaches the kernel)
 *   ACK of a recent flow -> ACCEPT (queued before its socket existed: flows.h)
 *   ACK, deny-listed     -> DROP, counted
 *   ACK, valid           -> (half-open entry first, then cookie) admission to the
 *                           accept queue (handoff_admit), repaired socket, handoff;
 *                           ACCEPT. Refused admission: the policy's accept_overflow
 *                           ("drop": DROP, the client retransmits; "reset")
 *   ACK, invalid cookie  -> DROP, counted, nothing else
 *   unparseable          -> DROP, counted by reason (below)
 *   bad TCP checksum     -> DROP, counted (only SYNs and ACKs to a listener)
 *   anything else        -> ACCEPT, counted: we never black-hole what we do not own
 *
 * Unparseable packets are dropped, not left to the kernel: the rules queue
 * only TCP SYNs and ACKs to protected ports, so one we cannot parse is still
 * aimed at a protected service, and Linux reads TCP options leniently (it
 * stops at a bad option length and keeps the SYN). Accepted, a SYN with a
 * broken option would reach a listener on the protected address without a
 * cookie: a way around the whole defence. No legitimate stack sends them.
 *
 * Checksums: the kernel verifies TCP checksums after netfilter, so a SYN with
 * a bad checksum would get a SYN-ACK the kernel itself would never send. When
 * the kernel says it has not verified the checksum yet (NFQA_SKB_CSUM_NOTVERIFIED;
 * not for locally built packets whose checksum is not even computed,
 * NFQA_SKB_CSUMNOTREADY, nor when hardware verified it) and the whole segment
 * was copied to us, we check it and drop a bad one.
 *
 * Verdicts are appended to one send buffer as runs: consecutive packet ids
 * with the same verdict collapse into one NFQNL_MSG_VERDICT_BATCH message
 * (the kernel applies it to every queued id up to the run's last, and every
 * earlier id already got its own verdict earlier in the same buffer). The
 * buffer and the SYN-ACK batch are flushed after every full recvmmsg() round
 * (so a long burst does not hold the first answers back: under a flood the
 * queue never runs dry and the connect p99 of legitimate clients was that
 * wait), from an ev_prepare watcher right before the loop blocks, or earlier
 * when full. SYN-ACKs leave at layer 2 when NFQUEUE told us the way back
 * (tx.h).
 *
 * One ordering rule matters: the socket for a handshake ACK is built inline,
 * before its verdict is even queued, so the ACCEPT delivers the ACK (and any
 * data on it) to the new socket, never to a closed port.
 *
 * Nothing here allocates after queue_start() but a reload: receive buffers,
 * the verdict buffer, the transmit ring, the flows table and the policy
 * tables are all sized up front.
 */
#define _GNU_SOURCE /* recvmmsg, pthread_setname_np, pthread_setaffinity_np */
#include "queue.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <ev.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <sodium.h>

#include "cookie.h"
#include "firewall.h"
#include "flows.h"
#include "log.h"
#include "policy.h"
#include "repair.h"
#include "tx.h"

/* Only the headers are copied to us: IPv6 + extension headers + TCP with options fit. */
#define Q_COPY_RANGE 128
/* Kernel-side queue length: about 30 ms of a 500k SYN/s flood. */
#define Q_MAXLEN 16384
/* Netlink receive buffer: room for a full queue's messages (each charged about 1 KiB). */
#define Q_RCVBUF (16 * 1024 * 1024)
/* Datagrams per recvmmsg(), and the size of each: a packet message with 128 bytes of
 * payload is about 350 bytes. */
#define Q_RX_BATCH 64
#define Q_RX_BUFSZ 2048
/* recvmmsg() rounds per wake-up before the loop gets to flush. */
#define Q_RX_ROUNDS 16
/* Verdict send buffer; a run costs 32 bytes. */
#define Q_VBUF_SIZE       (64 * 1024)
#define Q_VERDICT_MSG_MAX 64
/* SYN-ACKs per sendmmsg(). */
#define Q_TX_BATCH 64
/* Flows handed off recently: entries live a few seconds, far longer than a queued packet. */
#define Q_FLOWS_CAPACITY 8192
#define Q_FLOWS_TTL_MS   5000

/* The window our SYN-ACK advertises; SYN-ACK windows are never scaled. */
#define Q_SYNACK_WINDOW 65535
/* Our MSS in SYN-ACKs: Ethernet's, capped by the policy's largest table entry. */
#define Q_OUR_MSS4 1460
#define Q_OUR_MSS6 1440

#define Q_SETUP_TIMEOUT_MS 2000
#define Q_CFG_BUFSZ        512 /* one configuration message */

/* The policy timer: SYN-ACK retransmits are due on whole seconds after their SYN; a tenth
 * of a second late is well within what a client tolerates. */
#define Q_TIMER_MS 100
/* The first SYN-ACK retransmit, doubling after (as the kernel's TCP_TIMEOUT_INIT). */
#define Q_SYNACK_RTO_MS 1000
/* How long a device's MAC address is trusted before it is read again (tx.h). */
#define Q_DEVICES_MS 10000
/* Timer events handled per policy_due() call. */
#define Q_DUE_BATCH 64

/* What a thread keeps per listener of its generation. */
struct qlistener {
	struct handoff_listener *ls;
	struct policy *ps; /* NULL: cookies, no limits (its tables could not be built) */
	bool cookie;       /* counted in ls's cookie_threads */
};

struct queue_thread {
	uint16_t num;
	const struct queue_shared *sh;
	const struct queue_gen *gen;
	const struct conf *conf; /* gen->conf */
	struct qlistener *ql;    /* per listener of conf */
	uint64_t seen;           /* atomic: gen->seq */

	struct mnl_socket *nl;
	int nlfd;
	uint32_t portid;

	struct ev_loop *loop;
	ev_io io;
	ev_prepare prepare;
	ev_async stop;
	ev_async wake;
	ev_timer timer;
	pthread_t thread;
	bool thread_started;

	struct cookie_ctx *cookies;
	uint32_t epoch;
	bool have_epoch;
	uint64_t now_ms; /* monotonic, refreshed once per wake-up */

	struct tx *tx;
	uint64_t devs_ms; /* when tx last forgot the devices' addresses */
	struct flows *flows;
	/* counters: blocks[cur] is written; the other is the previous one until main frees it */
	struct stats_block blocks[2];
	int cur; /* atomic */
	struct stats_block *stats;

	/* receive ring */
	struct mmsghdr rx_msgs[Q_RX_BATCH];
	struct iovec rx_iov[Q_RX_BATCH];
	uint8_t (*rx_buf)[Q_RX_BUFSZ];

	/* pending verdicts */
	char *vbuf;
	size_t vlen;
	bool run_open;
	uint32_t run_last;
	int run_verdict;

	/* the configuration acknowledgment, during start-up only */
	uint32_t cfg_seq;
	bool cfg_acked;
	int cfg_error;
};

static struct stats_row *q_row(struct queue_thread *q, int listener)
{
	return &q->stats->rows[listener < 0 ? q->conf->n_listeners : (size_t)listener];
}

/* ---- time and keys ---- */

static void q_refresh_time(struct queue_thread *q)
{
	struct timespec ts;
	uint32_t epoch;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	q->now_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;

	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
	epoch = (uint32_t)((uint64_t)ts.tv_sec / q->conf->daemon.cookie_rotation);
	if (q->have_epoch && epoch == q->epoch)
		return;
	/* The previous epoch's key stays live so cookies made just before the rotation still
	 * validate; installing the current one retires the key from two epochs back. */
	for (uint32_t e = epoch - 1;; e = epoch) {
		if (!cookie_has_key(q->cookies, e)) {
			uint8_t key[COOKIE_KEY_LEN];

			cookie_derive_key(key, q->sh->cookie_master, e);
			cookie_set_key(q->cookies, e, key);
			sodium_memzero(key, sizeof(key));
		}
		if (e == epoch)
			break;
	}
	q->epoch = epoch;
	q->have_epoch = true;
}

/* ---- verdicts ---- */

static void q_emit_run(struct queue_thread *q)
{
	struct nlmsghdr *nlh;

	if (!q->run_open)
		return;
	nlh = nfq_nlmsg_put(q->vbuf + q->vlen, NFQNL_MSG_VERDICT_BATCH, q->num);
	nfq_nlmsg_verdict_put(nlh, (int)q->run_last, q->run_verdict);
	q->vlen += nlh->nlmsg_len;
	q->run_open = false;
}

static void q_flush_verdicts(struct queue_thread *q)
{
	q_emit_run(q);
	if (q->vlen == 0)
		return;
	for (int tries = 0; tries < 3; tries++) {
		/* The kernel processes the whole buffer synchronously: either every message
		 * was seen (errors come back as NLMSG_ERROR) or none was (no memory). */
		if (mnl_socket_sendto(q->nl, q->vbuf, q->vlen) >= 0)
			break;
		if (errno != ENOBUFS && errno != ENOMEM && errno != EINTR) {
			log_warnx_ratelimited(10, "queue %u: sending verdicts: %s", q->num,
			                      strerror(errno));
			break;
		}
	}
	q->vlen = 0;
}

/* The SYN-ACKs first: a client waits for them, nobody waits for the verdicts that drop SYNs. */
static void q_flush(struct queue_thread *q)
{
	tx_flush(q->tx);
	q_flush_verdicts(q);
}

static void q_verdict(struct queue_thread *q, uint32_t id, int verdict)
{
	if (q->run_open && verdict == q->run_verdict && id == q->run_last + 1) {
		q->run_last = id;
		return;
	}
	q_emit_run(q);
	if (q->vlen + Q_VERDICT_MSG_MAX > Q_VBUF_SIZE)
		q_flush_verdicts(q);
	q->run_open = true;
	q->run_last = id;
	q->run_verdict = verdict;
}

/* ---- packets ---- */

/* Why pkt_parse() refused a packet, as a counter. */
static const enum stats_id q_malformed_stat[PKT_NERR] = {
    [PKT_ETRUNC] = ST_MALFORMED_TRUNC,     [PKT_EVERSION] = ST_MALFORMED_VERSION,
    [PKT_EIHL] = ST_MALFORMED_IHL,         [PKT_ELEN] = ST_MALFORMED_LEN,
    [PKT_EFRAG] = ST_MALFORMED_FRAG,       [PKT_EEXTHDR] = ST_MALFORMED_EXTHDR,
    [PKT_ENEXTHDR] = ST_MALFORMED_NEXTHDR, [PKT_ENOTTCP] = ST_MALFORMED_NOTTCP,
    [PKT_ETCPOFF] = ST_MALFORMED_TCPOFF,   [PKT_EOPT] = ST_MALFORMED_OPT,
};
_Static_assert(PKT_NERR == PKT_EOPT + 2, "a counter for every parse error");

/* True when the segment was captured whole and its checksum is wrong. A longer one (data
 * beyond the copy range) goes on unchecked: the kernel checks it after us anyway. */
static bool q_csum_bad(const uint8_t *data, size_t len, const struct pkt_tcp *p)
{
	if ((size_t)p->l4off + p->tcp_hlen + p->payload_len > len)
		return false;
	return !pkt_tcp_csum_ok(data, len, p);
}

static const uint16_t *q_mss_table(const struct conf_policy *pol, int family)
{
	return family == AF_INET ? pol->mss : pol->mss6;
}

static const struct conf_policy *q_policy(const struct queue_thread *q, int li)
{
	return &q->conf->policies[q->conf->listeners[li].policy];
}

/* ---- modes ---- */

/*
 * Keeps the listener's count of threads answering with cookies in step with
 * this thread's mode. The first thread to switch to cookies and the last to
 * switch back log and count the listener's switch: once, however many threads
 * there are. Switches made by a reload are the reload's to report.
 */
static void q_sync_mode(struct queue_thread *q, int li, bool loud)
{
	struct qlistener *ql = &q->ql[li];
	struct stats_row *row = q_row(q, li);
	bool cookie = !ql->ps || policy_mode(ql->ps) == MODE_USE_COOKIE;
	unsigned why = ql->ps ? policy_mode_why(ql->ps) : 0;
	uint32_t n;

	if (cookie == ql->cookie)
		return;
	ql->cookie = cookie;
	n = handoff_listener_cookie(ql->ls, cookie ? 1 : -1);
	stats_add(row, ST_COOKIE_THREADS, cookie ? 1 : (uint64_t)-1);
	if (!loud || (why & MODE_WHY_CONFIG))
		return;
	if (cookie && n == 1) {
		stats_inc(row, ST_MODE_TO_COOKIE);
		log_info("listener %s: answering new SYNs with cookies: %s%s%s (queue %u)",
		         q->conf->listeners[li].name,
		         why & MODE_WHY_RATE ? "the SYN rate reached syn_rate_trigger" : "",
		         (why & MODE_WHY_RATE) && (why & MODE_WHY_FILL) ? ", " : "",
		         why & MODE_WHY_FILL ? "the half-open table reached half_open_fill_trigger"
		                             : "",
		         q->num);
	} else if (!cookie && n == 0) {
		stats_inc(row, ST_MODE_TO_STATEFUL);
		log_info("listener %s: back to stateful answers: calm for auto_calm_time",
		         q->conf->listeners[li].name);
	}
}

/* ---- SYN-ACKs ---- */

/* Sends the SYN-ACK answering syn (the client's options already filtered by policy). */
static void q_send_synack(struct queue_thread *q, const struct halfopen_syn *syn,
                          const struct conf_policy *pol, const struct tx_l2 *l2,
                          struct stats_row *row)
{
	const uint16_t *table = q_mss_table(pol, syn->t.family);
	uint16_t our_mss = syn->t.family == AF_INET ? Q_OUR_MSS4 : Q_OUR_MSS6;
	struct pkt_spec s;

	memset(&s, 0, sizeof(s));
	s.t.family = syn->t.family;
	memcpy(s.t.saddr, syn->t.daddr, sizeof(s.t.saddr));
	memcpy(s.t.daddr, syn->t.saddr, sizeof(s.t.daddr));
	s.t.sport = syn->t.dport;
	s.t.dport = syn->t.sport;
	s.seq = syn->our_isn;
	s.ack = syn->client_isn + 1;
	s.window = Q_SYNACK_WINDOW;
	s.flags = PKT_SYN | PKT_ACK;
	s.opt.mss = our_mss < table[3] ? our_mss : table[3];
	s.opt.has_wscale = syn->opt.has_wscale;
	s.opt.wscale = pol->wscale;
	s.opt.sack_ok = syn->opt.sack_ok;
	s.opt.has_ts = syn->opt.has_ts;
	s.opt.tsval = syn->our_tsval;
	s.opt.tsecr = syn->opt.tsval;
	tx_queue(q->tx, &s, l2, row);
}

static int q_on_syn(struct queue_thread *q, const struct pkt_tcp *p, int li, const struct tx_l2 *l2)
{
	const struct conf_policy *pol = q_policy(q, li);
	struct qlistener *ql = &q->ql[li];
	struct stats_row *row = q_row(q, li);
	enum policy_syn verdict = POLICY_SYN_COOKIE;
	struct halfopen_entry existing;
	struct halfopen_syn hs;
	struct cookie_syn in;
	enum mode_event ev;

	stats_inc(row, ST_SYN_RECEIVED);
	if (ql->ps) {
		verdict = policy_syn_check(ql->ps, &p->t, q->now_ms, &ev);
		if (ev != MODE_EV_NONE)
			q_sync_mode(q, li, true);
		if (verdict == POLICY_SYN_DENY) {
			stats_inc(row, ST_SYN_DENIED);
			return NF_DROP;
		}
		if (verdict == POLICY_SYN_RATE_LIMITED) {
			stats_inc(row, ST_SYN_RATE_LIMITED);
			return NF_DROP;
		}
	}

	memset(&in, 0, sizeof(in));
	in.mss = p->opt.mss;
	in.has_wscale = p->opt.has_wscale;
	in.wscale = p->opt.wscale;
	in.sack_ok = p->opt.sack_ok && pol->sack;
	in.has_ts = p->opt.has_ts && pol->timestamps;
	memset(&hs, 0, sizeof(hs));
	hs.t = p->t;
	hs.client_isn = p->seq;
	/* Stateful answers carry a cookie too: their ACK validates even without the entry. */
	if (cookie_make(q->cookies, q->epoch, q_mss_table(pol, p->t.family), &p->t, p->seq, &in,
	                &hs.our_isn, &hs.our_tsval) < 0) {
		stats_inc(row, ST_SYNACK_SEND_FAILED); /* cannot happen: the key is installed */
		return NF_DROP;
	}
	hs.opt = p->opt; /* the client's exact MSS and window scale, for the table */
	hs.opt.sack_ok = in.sack_ok;
	hs.opt.has_ts = in.has_ts;
	hs.opt.tsecr = 0;

	if (verdict == POLICY_SYN_STATEFUL) {
		switch (policy_syn_insert(ql->ps, &hs, q->now_ms, &existing)) {
		case POLICY_INS_NEW:
			stats_inc(row, ST_SYNACK_STATEFUL);
			stats_inc(row, ST_HALFOPEN_ENTRIES);
			break;
		case POLICY_INS_RESEND:
			/* the client did not hear us: the same SYN-ACK again */
			stats_inc(row, ST_SYNACK_STATEFUL);
			hs = existing.syn;
			break;
		case POLICY_INS_COOKIE:
			break;
		case POLICY_INS_FULL:
			stats_inc(row, ST_SYN_HALFOPEN_FULL);
			return NF_DROP;
		case POLICY_INS_SOURCE_FULL:
			stats_inc(row, ST_SYN_HALFOPEN_SOURCE);
			return NF_DROP;
		}
	}
	q_send_synack(q, &hs, pol, l2, row);
	return NF_DROP;
}

/* The ACK's handshake ends here (served, or refused for good): its half-open entry goes. */
static void q_handshake_done(struct queue_thread *q, int li, const struct pkt_tuple *t)
{
	struct qlistener *ql = &q->ql[li];

	if (ql->ps && policy_ack_done(ql->ps, t))
		stats_dec(q_row(q, li), ST_HALFOPEN_ENTRIES);
}

static int q_on_ack(struct queue_thread *q, const struct pkt_tcp *p, int li, bool has_socket)
{
	const struct conf_listener *l = &q->conf->listeners[li];
	const struct conf_policy *pol = q_policy(q, li);
	struct qlistener *ql = &q->ql[li];
	struct stats_row *row = q_row(q, li);
	enum policy_ack how = POLICY_ACK_COOKIE;
	struct halfopen_entry e;
	struct repair_params rp;
	struct handoff_conn hc;
	enum handoff_admit adm;
	struct cookie_syn cs;
	enum cookie_result r;
	bool allowed;
	int fd;

	if (flows_contains(q->flows, &p->t, p->ack, q->now_ms)) {
		stats_inc(row, ST_ACK_FLOW_PASSED);
		return NF_ACCEPT;
	}
	if (ql->ps)
		how = policy_ack(ql->ps, &p->t, p->seq, p->ack, &e);
	if (how == POLICY_ACK_DENY) {
		stats_inc(row, ST_ACK_DENIED);
		return NF_DROP;
	}

	memset(&rp, 0, sizeof(rp));
	rp.t = p->t;
	rp.client_isn = p->seq - 1;
	rp.our_isn = p->ack - 1;
	rp.rcv_wscale = pol->wscale;
	rp.ack_window = p->window;
	rp.our_window = Q_SYNACK_WINDOW;
	if (how == POLICY_ACK_HALFOPEN) {
		/* the table kept what the client offered, exactly */
		rp.mss = e.syn.opt.mss ? e.syn.opt.mss : p->t.family == AF_INET ? 536 : 1220;
		rp.has_wscale = e.syn.opt.has_wscale;
		rp.snd_wscale = e.syn.opt.wscale > 14 ? 14 : e.syn.opt.wscale;
		rp.sack_ok = e.syn.opt.sack_ok;
		rp.has_ts = e.syn.opt.has_ts;
		rp.ack_tsecr = e.syn.our_tsval;
		stats_inc(row, ST_ACK_VALID);
		stats_inc(row, ST_ACK_HALFOPEN);
	} else {
		r = cookie_check(q->cookies, q->epoch, q_mss_table(pol, p->t.family), &p->t, p->seq,
		                 p->ack, &p->opt, &cs);
		if (r != COOKIE_VALID && has_socket) {
			/* Not a handshake, but a socket holds this tuple: typically the
			 * TIME_WAIT of a connection we handed off, awaiting the client's
			 * FIN. The kernel answers it as it would without us. */
			stats_inc(row, ST_ACK_FLOW_PASSED);
			return NF_ACCEPT;
		}
		if (r != COOKIE_VALID) {
			stats_inc(row, r == COOKIE_ENOKEY ? ST_ACK_EXPIRED : ST_ACK_INVALID);
			return NF_DROP;
		}
		stats_inc(row, ST_ACK_VALID);
		rp.mss = cs.mss;
		rp.has_wscale = cs.has_wscale;
		rp.snd_wscale = cs.wscale;
		rp.sack_ok = cs.sack_ok;
		rp.has_ts = cs.has_ts;
		rp.ack_tsecr = p->opt.tsecr;
	}

	/* A place in the accept queue before the socket exists: a full queue costs nothing. */
	memset(&hc, 0, sizeof(hc));
	hc.ls = ql->ls;
	hc.t = p->t;
	allowed =
	    ql->ps && policy_access_of(ql->ps, p->t.family, p->t.saddr) == POLICY_ACCESS_ALLOW;
	adm = handoff_admit(&hc, pol, allowed);
	if (adm != HANDOFF_ADMIT_OK) {
		stats_inc(row, adm == HANDOFF_ADMIT_BACKLOG ? ST_ACCEPT_OVERFLOW
		               : adm == HANDOFF_ADMIT_CONNS ? ST_CONN_LIMITED
		                                            : ST_SOURCE_CONN_LIMITED);
		if (pol->accept_overflow == CONF_OVERFLOW_DROP)
			return NF_DROP; /* the half-open entry stays: its retransmit asks again */
		/* "reset": the client holds an established connection; tell it it is over */
		fd = repair_socket(&rp);
		if (fd >= 0)
			handoff_reset_fd(fd);
		q_handshake_done(q, li, &p->t);
		return NF_DROP;
	}

	fd = repair_socket(&rp);
	if (fd < 0) {
		handoff_unadmit(&hc);
		stats_inc(row, ST_REPAIR_FAILED);
		log_warnx_ratelimited(10, "queue %u: listener %s: TCP_REPAIR failed: %s", q->num,
		                      l->name, strerror(errno));
		return NF_DROP;
	}
	hc.fd = fd;
	if (handoff_submit(q->sh->handoff, &hc) < 0) {
		/* The reset carries our ISN + 1, the state the client already holds. */
		handoff_reset_fd(fd);
		handoff_unadmit(&hc);
		stats_inc(row, ST_HANDOFF_FAILED);
		return NF_DROP;
	}
	q_handshake_done(q, li, &p->t);
	if (flows_insert(q->flows, &p->t, p->ack, q->now_ms))
		log_warnx_ratelimited(60, "queue %u: recent-flows table full, oldest evicted",
		                      q->num);
	return NF_ACCEPT;
}

static int q_on_packet(struct queue_thread *q, const uint8_t *data, size_t len,
                       bool csum_unverified, bool has_socket, const struct tx_l2 *l2)
{
	struct pkt_tcp p;
	enum pkt_err err;
	bool syn, ack;
	int li;

	err = pkt_parse(data, len, PKT_PARSE_PARTIAL, &p);
	if (err != PKT_OK) {
		stats_inc(q_row(q, -1), ST_PKT_MALFORMED);
		if ((unsigned)err < PKT_NERR && q_malformed_stat[err])
			stats_inc(q_row(q, -1), q_malformed_stat[err]);
		return NF_DROP; /* see the top of this file */
	}
	li = conf_match_listener(q->conf, p.t.family, p.t.daddr, p.t.dport);
	if (li < 0) {
		stats_inc(q_row(q, -1), ST_PKT_OTHER);
		return NF_ACCEPT;
	}
	syn = (p.flags & (PKT_SYN | PKT_ACK | PKT_RST | PKT_FIN)) == PKT_SYN;
	ack = (p.flags & (PKT_SYN | PKT_ACK | PKT_RST)) == PKT_ACK;
	if (!syn && !ack) {
		stats_inc(q_row(q, li), ST_PKT_OTHER);
		return NF_ACCEPT;
	}
	if (csum_unverified && q_csum_bad(data, len, &p)) {
		stats_inc(q_row(q, li), ST_BAD_CSUM);
		return NF_DROP;
	}
	return syn ? q_on_syn(q, &p, li, l2) : q_on_ack(q, &p, li, has_socket);
}

/* ---- netlink messages ---- */

static void q_on_nlmsg(struct queue_thread *q, const struct nlmsghdr *nlh)
{
	struct nlattr *attr[NFQA_MAX + 1];
	const struct nfqnl_msg_packet_hdr *ph;
	const uint8_t *payload = NULL;
	size_t plen = 0;
	bool csum_unverified = false, has_socket;
	struct tx_l2 l2 = {0};

	if (nlh->nlmsg_type == NLMSG_ERROR) {
		const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);

		if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*e)))
			return;
		if (q->cfg_seq != 0 && nlh->nlmsg_seq == q->cfg_seq) {
			q->cfg_acked = true;
			q->cfg_error = -e->error;
		} else if (e->error != 0) {
			log_warnx_ratelimited(10, "queue %u: kernel refused a verdict: %s", q->num,
			                      strerror(-e->error));
		}
		return;
	}
	if (nlh->nlmsg_type != ((NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET))
		return;
	memset(attr, 0, sizeof(attr));
	if (nfq_nlmsg_parse(nlh, attr) < 0 || attr[NFQA_PACKET_HDR] == NULL ||
	    mnl_attr_get_payload_len(attr[NFQA_PACKET_HDR]) < sizeof(*ph))
		return; /* no id: nothing can be decided */
	ph = mnl_attr_get_payload(attr[NFQA_PACKET_HDR]);
	if (attr[NFQA_PAYLOAD]) {
		payload = mnl_attr_get_payload(attr[NFQA_PAYLOAD]);
		plen = mnl_attr_get_payload_len(attr[NFQA_PAYLOAD]);
	}
	/* Sent because the queue is configured with NFQA_CFG_F_GSO. Without the NOTVERIFIED
	 * flag there is nothing to check: hardware or the stack verified the checksum, or
	 * the packet is local and its checksum not computed yet (NFQA_SKB_CSUMNOTREADY). */
	if (attr[NFQA_SKB_INFO] && mnl_attr_get_payload_len(attr[NFQA_SKB_INFO]) >= 4)
		csum_unverified =
		    ntohl(mnl_attr_get_u32(attr[NFQA_SKB_INFO])) & NFQA_SKB_CSUM_NOTVERIFIED;
	/* The firewall marks packets for which some socket exists (firewall.h). */
	has_socket = attr[NFQA_MARK] && mnl_attr_get_payload_len(attr[NFQA_MARK]) >= 4 &&
	             ntohl(mnl_attr_get_u32(attr[NFQA_MARK])) == FW_SOCKET_MARK;
	/* The way back at layer 2 (tx.h): an Ethernet source address and the input device. */
	if (q->conf->daemon.synack_layer2 && attr[NFQA_IFINDEX_INDEV] && attr[NFQA_HWADDR] &&
	    mnl_attr_get_payload_len(attr[NFQA_HWADDR]) >= sizeof(struct nfqnl_msg_packet_hw)) {
		const struct nfqnl_msg_packet_hw *hw = mnl_attr_get_payload(attr[NFQA_HWADDR]);

		if (ntohs(hw->hw_addrlen) == sizeof(l2.mac)) {
			l2.ifindex = (int)ntohl(mnl_attr_get_u32(attr[NFQA_IFINDEX_INDEV]));
			memcpy(l2.mac, hw->hw_addr, sizeof(l2.mac));
		}
	}
	q_verdict(q, ntohl(ph->packet_id),
	          q_on_packet(q, payload, plen, csum_unverified, has_socket, &l2));
}

static void q_on_datagram(struct queue_thread *q, const void *buf, size_t len)
{
	const struct nlmsghdr *nlh = buf;
	int left = (int)len;

	while (mnl_nlmsg_ok(nlh, left)) {
		q_on_nlmsg(q, nlh);
		nlh = mnl_nlmsg_next(nlh, &left);
	}
}

/* Reads what is there; returns -1 on a socket error other than EAGAIN. */
static int q_read(struct queue_thread *q, int rounds)
{
	for (int r = 0; r < rounds; r++) {
		int n = recvmmsg(q->nlfd, q->rx_msgs, Q_RX_BATCH, MSG_DONTWAIT, NULL);

		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			if (errno == EINTR)
				continue;
			if (errno == ENOBUFS)
				continue; /* overrun reported despite NETLINK_NO_ENOBUFS: go on */
			return -1;
		}
		for (int i = 0; i < n; i++) {
			if (q->rx_msgs[i].msg_hdr.msg_flags & MSG_TRUNC)
				continue; /* cannot happen with our copy range */
			q_on_datagram(q, q->rx_buf[i], q->rx_msgs[i].msg_len);
			q->rx_msgs[i].msg_hdr.msg_flags = 0;
		}
		/* What this round decided goes out now (one sendmmsg, one verdict message): a
		 * long burst must not hold the first answers back until the queue runs dry. */
		q_flush(q);
		/* Then read again, even after a short round. A thread that keeps up with a
		 * flood finds a few packets each time; going back through epoll_wait() for
		 * them would add a fourth system call to the three each round needs, and
		 * the last read, the one that finds nothing, costs less than that. */
		q_refresh_time(q);
	}
	return 0;
}

/* ---- policy state and reloads ---- */

static enum mode_kind q_mode_kind(enum conf_mode m)
{
	switch (m) {
	case CONF_MODE_STATEFUL:
		return MODE_STATEFUL;
	case CONF_MODE_AUTO:
		return MODE_AUTO;
	case CONF_MODE_COOKIE:
		break;
	}
	return MODE_COOKIE;
}

/* This thread's share of listener li's policy. */
static void q_policy_params(const struct queue_thread *q, const struct queue_gen *g, size_t li,
                            struct policy_params *pp)
{
	const struct conf *c = g->conf;
	size_t pi = c->listeners[li].policy;
	const struct conf_policy *pol = &c->policies[pi];
	uint32_t n = q->sh->n_queues ? (uint32_t)q->sh->n_queues : 1;

	memset(pp, 0, sizeof(*pp));
	pp->kind = q_mode_kind(pol->mode);
	pp->half_open_capacity = (pol->half_open_max + n - 1) / n;
	pp->half_open_per_source = pol->half_open_per_source;
	pp->rto_ms = Q_SYNACK_RTO_MS;
	pp->synack_retries = pol->synack_retries;
	pp->syn_rate_trigger = pol->syn_rate_trigger ? (pol->syn_rate_trigger + n - 1) / n : 0;
	pp->fill_trigger = pol->half_open_fill_trigger / 100.0;
	pp->calm_ms = pol->auto_calm_time * 1000;
	pp->syn_rate = pol->per_source.syn_rate;
	pp->burst = pol->per_source.burst;
	pp->rate_table_size = pol->per_source.table_size;
	pp->prefix_v4 = pol->per_source.prefix_v4;
	pp->prefix_v6 = pol->per_source.prefix_v6;
	pp->access = g->access[pi];
}

/* The state of listener i under its new params: the old one reconfigured, or a new one. */
static void q_policy_set(struct queue_thread *q, const struct queue_gen *g, size_t i,
                         struct qlistener *ql, struct stats_row *row)
{
	const char *name = g->conf->listeners[i].name;
	uint8_t seed[POLICY_SEED_LEN];
	struct policy_params pp;
	size_t dropped = 0;

	q_policy_params(q, g, i, &pp);
	randombytes_buf(seed, sizeof(seed));
	if (ql->ps && policy_reconfigure(ql->ps, &pp, seed, q->now_ms, &dropped) < 0) {
		stats_add(row, ST_HALFOPEN_ENTRIES, -(uint64_t)policy_half_open(ql->ps));
		policy_free(ql->ps);
		ql->ps = NULL;
	} else if (ql->ps) {
		stats_add(row, ST_HALFOPEN_ENTRIES, -(uint64_t)dropped);
	}
	if (!ql->ps)
		ql->ps = policy_new(&pp, seed, q->now_ms);
	if (!ql->ps)
		log_warnx("queue %u: listener %s: cannot build the policy's tables (%s): answering "
		          "with cookies, without per-source limits",
		          q->num, name, strerror(errno));
	sodium_memzero(seed, sizeof(seed));
}

/*
 * Moves to the published generation when there is a new one. The counters
 * move to a block of the new shape by listener; what a removed listener
 * counted goes to the unmatched row. Returns -1 when memory ran out: the
 * thread stays where it is and tries again at its next batch.
 */
static int q_pickup(struct queue_thread *q)
{
	const struct queue_gen *g = __atomic_load_n(&q->sh->gen, __ATOMIC_ACQUIRE);
	size_t n, m = q->gen ? q->conf->n_listeners : 0;
	struct qlistener *nql;
	struct stats_block *nb;
	bool *kept;
	int next;

	if (g == q->gen)
		return 0;
	n = g->conf->n_listeners;
	next = q->gen ? 1 - q->cur : q->cur;
	nb = &q->blocks[next];
	nql = calloc(n ? n : 1, sizeof(*nql));
	kept = calloc(m ? m : 1, sizeof(*kept));
	if (!nql || !kept || stats_block_init(nb, n) < 0) {
		free(nql);
		free(kept);
		log_warnx_ratelimited(10, "queue %u: out of memory: the new configuration waits",
		                      q->num);
		return -1;
	}
	/* batched SYN-ACKs point at the current rows: out with them first */
	q_flush(q);

	for (size_t i = 0; i < n; i++) {
		nql[i].ls = g->ls[i];
		for (size_t j = 0; j < m; j++) {
			if (!kept[j] && q->ql[j].ls == g->ls[i]) {
				kept[j] = true;
				nql[i] = q->ql[j];
				stats_row_add(&nb->rows[i], &q->stats->rows[j]);
				break;
			}
		}
		q_policy_set(q, g, i, &nql[i], &nb->rows[i]);
	}
	for (size_t j = 0; j < m; j++) {
		struct stats_row *r = &q->stats->rows[j];

		if (kept[j])
			continue;
		if (q->ql[j].ps) {
			stats_add(r, ST_HALFOPEN_ENTRIES, -(uint64_t)policy_half_open(q->ql[j].ps));
			policy_free(q->ql[j].ps);
		}
		if (q->ql[j].cookie) {
			handoff_listener_cookie(q->ql[j].ls, -1);
			stats_dec(r, ST_COOKIE_THREADS);
		}
		stats_row_add(&nb->rows[n], r);
	}
	if (q->gen)
		stats_row_add(&nb->rows[n], &q->stats->rows[m]);
	free(kept);
	free(q->ql);
	q->ql = nql;
	q->gen = g;
	q->conf = g->conf;
	q->stats = nb;
	/* a mode changed by the reload applies now, quietly: the reload reports it */
	for (size_t i = 0; i < n; i++) {
		if (q->ql[i].ps)
			(void)policy_tick(q->ql[i].ps, q->now_ms, NULL);
		q_sync_mode(q, (int)i, false);
	}
	__atomic_store_n(&q->cur, next, __ATOMIC_RELEASE);
	__atomic_store_n(&q->seen, g->seq, __ATOMIC_RELEASE);
	if (q->thread_started && q->sh->moved_on)
		q->sh->moved_on(q->sh->moved_arg);
	return 0;
}

/* SYN-ACK retransmits, half-open expiries, and the auto mode in quiet periods. */
static void q_policy_timer(struct queue_thread *q)
{
	struct halfopen_event evs[Q_DUE_BATCH];

	for (size_t li = 0; li < q->conf->n_listeners; li++) {
		struct qlistener *ql = &q->ql[li];
		const struct conf_policy *pol = q_policy(q, (int)li);
		struct stats_row *row = q_row(q, (int)li);
		enum mode_event ev;
		size_t k;

		if (!ql->ps)
			continue;
		do {
			k = policy_due(ql->ps, q->now_ms, evs, Q_DUE_BATCH);
			for (size_t i = 0; i < k; i++) {
				if (evs[i].kind == HALFOPEN_RETRANSMIT) {
					stats_inc(row, ST_SYNACK_RETRANSMITS);
					/* the route decides: the table keeps no MAC */
					q_send_synack(q, &evs[i].e.syn, pol, NULL, row);
				} else {
					stats_inc(row, ST_HALFOPEN_EXPIRED);
					stats_dec(row, ST_HALFOPEN_ENTRIES);
				}
			}
		} while (k == Q_DUE_BATCH);
		(void)policy_tick(ql->ps, q->now_ms, &ev);
		if (ev != MODE_EV_NONE)
			q_sync_mode(q, (int)li, true);
	}
}

/* ---- event loop ---- */

static void q_on_readable(struct ev_loop *loop, ev_io *w, int revents)
{
	struct queue_thread *q = w->data;

	(void)loop;
	(void)revents;
	q_refresh_time(q);
	q_pickup(q);
	if (q_read(q, Q_RX_ROUNDS) < 0)
		log_warnx_ratelimited(10, "queue %u: netlink receive: %s", q->num, strerror(errno));
}

static void q_on_prepare(struct ev_loop *loop, ev_prepare *w, int revents)
{
	struct queue_thread *q = w->data;

	(void)loop;
	(void)revents;
	q_flush(q);
}

static void q_on_wake(struct ev_loop *loop, ev_async *w, int revents)
{
	struct queue_thread *q = w->data;

	(void)loop;
	(void)revents;
	q_refresh_time(q);
	q_pickup(q);
}

static void q_on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct queue_thread *q = w->data;

	(void)loop;
	(void)revents;
	q_refresh_time(q);
	q_pickup(q);
	q_policy_timer(q);
	if (q->now_ms - q->devs_ms >= Q_DEVICES_MS) {
		tx_forget_devices(q->tx);
		q->devs_ms = q->now_ms;
	}
}

static void q_on_stop(struct ev_loop *loop, ev_async *w, int revents)
{
	(void)w;
	(void)revents;
	ev_break(loop, EVBREAK_ALL);
}

static void *q_main(void *arg)
{
	struct queue_thread *q = arg;

	ev_run(q->loop, 0);
	q_flush(q);
	return NULL;
}

/* ---- set-up ---- */

/* Binds the queue and configures it in one message, so the copy mode, length and flags
 * apply from the first packet on; waits for the kernel's acknowledgment. Packets that
 * arrive meanwhile are handled normally. */
static int q_bind(struct queue_thread *q, char *err, size_t errlen)
{
	char buf[Q_CFG_BUFSZ];
	struct nlmsghdr *nlh;
	uint32_t flags = NFQA_CFG_F_GSO, mask = NFQA_CFG_F_GSO | NFQA_CFG_F_FAIL_OPEN;
	struct timespec start, now;

	if (q->conf->daemon.queue_full == CONF_QUEUE_FULL_ACCEPT)
		flags |= NFQA_CFG_F_FAIL_OPEN;
	/* libmnl 1.0.4 leaves attribute padding as it finds it (the 5-byte copy
	 * parameters are padded to 8): no stack bytes go to the kernel */
	memset(buf, 0, sizeof(buf));
	nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, q->num);
	nlh->nlmsg_flags |= NLM_F_ACK;
	nlh->nlmsg_seq = q->cfg_seq = (uint32_t)time(NULL) | 1;
	nfq_nlmsg_cfg_put_cmd(nlh, AF_UNSPEC, NFQNL_CFG_CMD_BIND);
	nfq_nlmsg_cfg_put_params(nlh, NFQNL_COPY_PACKET, Q_COPY_RANGE);
	nfq_nlmsg_cfg_put_qmaxlen(nlh, Q_MAXLEN);
	mnl_attr_put_u32(nlh, NFQA_CFG_FLAGS, htonl(flags));
	mnl_attr_put_u32(nlh, NFQA_CFG_MASK, htonl(mask));
	if (mnl_socket_sendto(q->nl, nlh, nlh->nlmsg_len) < 0) {
		snprintf(err, errlen, "binding NFQUEUE %u: %s", q->num, strerror(errno));
		return -1;
	}

	clock_gettime(CLOCK_MONOTONIC, &start);
	while (!q->cfg_acked) {
		struct pollfd pfd = {.fd = q->nlfd, .events = POLLIN};
		long waited;

		clock_gettime(CLOCK_MONOTONIC, &now);
		waited =
		    (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
		if (waited >= Q_SETUP_TIMEOUT_MS) {
			snprintf(err, errlen, "binding NFQUEUE %u: no answer from the kernel",
			         q->num);
			return -1;
		}
		if (poll(&pfd, 1, (int)(Q_SETUP_TIMEOUT_MS - waited)) < 0 && errno != EINTR) {
			snprintf(err, errlen, "binding NFQUEUE %u: poll: %s", q->num,
			         strerror(errno));
			return -1;
		}
		q_refresh_time(q);
		if (q_read(q, 1) < 0) {
			snprintf(err, errlen, "binding NFQUEUE %u: receive: %s", q->num,
			         strerror(errno));
			return -1;
		}
	}
	q->cfg_seq = 0;
	if (q->cfg_error != 0) {
		snprintf(err, errlen, "binding NFQUEUE %u: %s%s", q->num, strerror(q->cfg_error),
		         q->cfg_error == EPERM ? " (bound by another process, or no CAP_NET_ADMIN)"
		                               : "");
		return -1;
	}
	return 0;
}

static int q_open_netlink(struct queue_thread *q, char *err, size_t errlen)
{
	int rcvbuf = Q_RCVBUF, on = 1;

	q->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (q->nl == NULL) {
		snprintf(err, errlen, "netlink socket: %s", strerror(errno));
		return -1;
	}
	q->nlfd = mnl_socket_get_fd(q->nl);
	if (mnl_socket_bind(q->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		snprintf(err, errlen, "netlink bind: %s", strerror(errno));
		return -1;
	}
	q->portid = mnl_socket_get_portid(q->nl);
	if (setsockopt(q->nlfd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0 &&
	    setsockopt(q->nlfd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)) < 0)
		log_warn("queue %u: netlink receive buffer", q->num);
	/* A full buffer must not turn into an error on our socket: the kernel then drops (or,
	 * with queue_full = "accept", accepts) the packet, as for a full queue. */
	if (mnl_socket_setsockopt(q->nl, NETLINK_NO_ENOBUFS, &on, sizeof(on)) < 0)
		log_warn("queue %u: NETLINK_NO_ENOBUFS", q->num);
	return 0;
}

static void q_free(struct queue_thread *q)
{
	if (q == NULL)
		return;
	if (q->nl) {
		char buf[Q_CFG_BUFSZ];
		struct nlmsghdr *nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, q->num);

		/* Closing the socket unbinds too; saying so is cleaner and immediate. */
		nfq_nlmsg_cfg_put_cmd(nlh, AF_UNSPEC, NFQNL_CFG_CMD_UNBIND);
		(void)mnl_socket_sendto(q->nl, nlh, nlh->nlmsg_len);
		mnl_socket_close(q->nl);
	}
	if (q->loop)
		ev_loop_destroy(q->loop);
	tx_free(q->tx);
	flows_free(q->flows);
	cookie_free(q->cookies);
	if (q->ql)
		for (size_t i = 0; i < q->conf->n_listeners; i++)
			policy_free(q->ql[i].ps);
	free(q->ql);
	stats_block_free(&q->blocks[0]);
	stats_block_free(&q->blocks[1]);
	free(q->rx_buf);
	free(q->vbuf);
	free(q);
}

/*
 * The CPU and scheduling the configuration asks for (daemon.queue_cpus,
 * daemon.queue_priority), given to the thread as it is created, while the
 * daemon still holds its privileges. A real-time queue thread answers a SYN as soon as it arrives
 * instead of waiting for its turn behind other work: under a flood that
 * wait, not the work, was most of the connect latency of legitimate
 * clients. The kernel's real-time throttling (kernel.sched_rt_runtime_us)
 * still leaves the other threads a share of each CPU.
 */
static void q_thread_attr(const struct queue_thread *q, pthread_attr_t *attr)
{
	const struct conf_daemon *d = &q->conf->daemon;

	if (d->n_queue_cpus > 0) {
		unsigned cpu = d->queue_cpus[(unsigned)(q->num - d->queue_first) % d->n_queue_cpus];
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		pthread_attr_setaffinity_np(attr, sizeof(set), &set);
	}
	if (d->queue_priority > 0) {
		struct sched_param sp = {.sched_priority = d->queue_priority};

		pthread_attr_setinheritsched(attr, PTHREAD_EXPLICIT_SCHED);
		pthread_attr_setschedpolicy(attr, SCHED_RR);
		pthread_attr_setschedparam(attr, &sp);
	}
}

/*
 * daemon.queue_nice. A nice value cannot be given through thread attributes, and
 * a thread cannot be reniced once the daemon has dropped its privileges, but a new
 * thread inherits its creator's: the creating thread takes the value for the
 * moment of pthread_create() (see the caller). Under a flood a queue thread at
 * -20 takes nearly all of its CPU, yet, unlike a real-time one, still lets that
 * CPU's kernel threads (ksoftirqd, workqueues) in at once when they wake.
 * Returns 0, or -1 with err set.
 */
static int q_nice_push(const struct queue_thread *q, int *was, char *err, size_t errlen)
{
	int want = q->conf->daemon.queue_nice;

	if (want == 0)
		return 0;
	errno = 0;
	*was = getpriority(PRIO_PROCESS, 0); /* the calling thread, on Linux */
	if (*was == -1 && errno != 0) {
		snprintf(err, errlen, "daemon.queue_nice: getpriority: %s", strerror(errno));
		return -1;
	}
	if (setpriority(PRIO_PROCESS, 0, want) < 0) {
		snprintf(err, errlen, "daemon.queue_nice = %d: %s%s", want, strerror(errno),
		         errno == EACCES || errno == EPERM
		             ? " (needs CAP_SYS_NICE or RLIMIT_NICE; systemd: LimitNICE=)"
		             : "");
		return -1;
	}
	return 0;
}

static void q_nice_pop(const struct queue_thread *q, int was)
{
	if (q->conf->daemon.queue_nice != 0 && setpriority(PRIO_PROCESS, 0, was) < 0)
		log_warn("queue %u: restoring the main thread's nice value", q->num);
}

struct queue_thread *queue_start(uint16_t num, const struct queue_shared *sh, char *err,
                                 size_t errlen)
{
	struct queue_thread *q = calloc(1, sizeof(*q));
	sigset_t all, old;
	pthread_attr_t attr;
	uint64_t seed;
	int e, nice_was = 0;

	if (q == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	q->num = num;
	q->sh = sh;
	q->conf = __atomic_load_n(&sh->gen, __ATOMIC_ACQUIRE)->conf; /* until q_pickup */
	if (q->conf->daemon.cookie_rotation == 0) {
		snprintf(err, errlen, "cookie_rotation must be positive");
		goto fail;
	}
	randombytes_buf(&seed, sizeof(seed));
	q->cookies = cookie_new();
	q->flows = flows_new(Q_FLOWS_CAPACITY, Q_FLOWS_TTL_MS, seed);
	q->rx_buf = calloc(Q_RX_BATCH, sizeof(*q->rx_buf));
	q->vbuf = calloc(1, Q_VBUF_SIZE);
	if (!q->cookies || !q->flows || !q->rx_buf || !q->vbuf) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < Q_RX_BATCH; i++) {
		q->rx_iov[i].iov_base = q->rx_buf[i];
		q->rx_iov[i].iov_len = Q_RX_BUFSZ;
		q->rx_msgs[i].msg_hdr.msg_iov = &q->rx_iov[i];
		q->rx_msgs[i].msg_hdr.msg_iovlen = 1;
	}
	q->tx = tx_new(Q_TX_BATCH, err, errlen);
	if (q->tx == NULL)
		goto fail;
	if (q->conf->daemon.synack_layer2 && tx_layer2_errno(q->tx) != 0)
		log_warnx(
		    "queue %u: synack_layer2: no packet socket (%s): SYN-ACKs take the routed "
		    "raw sockets",
		    num, strerror(tx_layer2_errno(q->tx)));
	q_refresh_time(q);
	if (q_pickup(q) < 0) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (q_open_netlink(q, err, errlen) < 0 || q_bind(q, err, errlen) < 0)
		goto fail;
	q_flush(q);

	q->loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
	if (q->loop == NULL) {
		snprintf(err, errlen, "cannot create an event loop");
		goto fail;
	}
	ev_io_init(&q->io, q_on_readable, q->nlfd, EV_READ);
	q->io.data = q;
	ev_io_start(q->loop, &q->io);
	ev_prepare_init(&q->prepare, q_on_prepare);
	q->prepare.data = q;
	ev_prepare_start(q->loop, &q->prepare);
	ev_async_init(&q->stop, q_on_stop);
	ev_async_start(q->loop, &q->stop);
	ev_async_init(&q->wake, q_on_wake);
	q->wake.data = q;
	ev_async_start(q->loop, &q->wake);
	ev_timer_init(&q->timer, q_on_timer, Q_TIMER_MS / 1000.0, Q_TIMER_MS / 1000.0);
	q->timer.data = q;
	ev_timer_start(q->loop, &q->timer);

	/* Signals belong to the main thread's loop. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_init(&attr);
	q_thread_attr(q, &attr);
	e = q_nice_push(q, &nice_was, err, errlen);
	if (e == 0) {
		e = pthread_create(&q->thread, &attr, q_main, q);
		q_nice_pop(q, nice_was);
	}
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e < 0)
		goto fail; /* q_nice_push said why */
	if (e != 0) {
		snprintf(err, errlen, "cannot start the queue thread: %s%s", strerror(e),
		         e == EINVAL || e == EPERM ? " (daemon.queue_cpus or queue_priority)" : "");
		goto fail;
	}
	q->thread_started = true;
	{
		char name[16];

		snprintf(name, sizeof(name), "sg-queue-%u", num);
		pthread_setname_np(q->thread, name);
	}
	return q;

fail:
	q_free(q);
	return NULL;
}

void queue_stop(struct queue_thread *q)
{
	if (q == NULL)
		return;
	if (q->thread_started) {
		ev_async_send(q->loop, &q->stop);
		pthread_join(q->thread, NULL);
	}
	q_free(q);
}

const struct stats_block *queue_stats(const struct queue_thread *q)
{
	return &q->blocks[__atomic_load_n(&q->cur, __ATOMIC_ACQUIRE)];
}

void queue_stats_free_prev(struct queue_thread *q)
{
	stats_block_free(&q->blocks[1 - __atomic_load_n(&q->cur, __ATOMIC_ACQUIRE)]);
}

void queue_wake(struct queue_thread *q)
{
	ev_async_send(q->loop, &q->wake);
}

uint64_t queue_gen_seq(const struct queue_thread *q)
{
	return __atomic_load_n(&q->seen, __ATOMIC_ACQUIRE);
}

uint16_t queue_num(const struct queue_thread *q)
{
	return q->num;
}
