/*
 * Per-packet policy decisions: see policy.h.
 */
#include "policy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "ratelimit.h"

struct policy {
	struct policy_params p;
	struct rl *rl;       /* NULL: no rate limit */
	struct halfopen *ho; /* NULL: mode cookie */
	struct mode *mode;
};

_Static_assert(POLICY_SEED_LEN == 2 * SIPHASH_KEY_LEN, "one key per table");

struct cidr_set *policy_access_new(const struct cidr *allow, size_t n_allow,
                                   const struct cidr *deny, size_t n_deny, char *err, size_t errlen)
{
	struct cidr_entry *e;
	struct cidr_set *s;

	if (err && errlen)
		err[0] = '\0';
	if (n_allow + n_deny == 0)
		return NULL;
	e = calloc(n_allow + n_deny, sizeof(*e));
	if (!e) {
		if (err && errlen)
			snprintf(err, errlen, "out of memory");
		return NULL;
	}
	for (size_t i = 0; i < n_allow; i++)
		e[i] = (struct cidr_entry){allow[i], POLICY_ALLOWED};
	for (size_t i = 0; i < n_deny; i++)
		e[n_allow + i] = (struct cidr_entry){deny[i], POLICY_DENIED};
	s = cidr_set_new(e, n_allow + n_deny, err, errlen);
	free(e);
	return s;
}

static bool params_ok(const struct policy_params *p)
{
	if (p->kind != MODE_COOKIE && p->kind != MODE_STATEFUL && p->kind != MODE_AUTO)
		return false;
	if (p->kind != MODE_COOKIE &&
	    (p->half_open_capacity < 1 || p->half_open_capacity > HALFOPEN_MAX_CAPACITY ||
	     p->rto_ms < 1 || p->synack_retries > HALFOPEN_MAX_RETRIES))
		return false;
	if (p->syn_rate && (p->burst < 1 || p->rate_table_size < 1))
		return false;
	return p->prefix_v4 <= 32 && p->prefix_v6 <= 64;
}

static void ho_params(const struct policy_params *p, struct halfopen_params *hp)
{
	memset(hp, 0, sizeof(*hp));
	hp->capacity = p->half_open_capacity;
	hp->per_source = p->half_open_per_source;
	hp->prefix_v4 = p->prefix_v4;
	hp->prefix_v6 = p->prefix_v6;
	hp->rto_ms = p->rto_ms;
	hp->retries = p->synack_retries;
}

static void mode_params(const struct policy_params *p, struct mode_params *mp)
{
	memset(mp, 0, sizeof(*mp));
	mp->kind = p->kind;
	mp->syn_rate_trigger = p->syn_rate_trigger;
	mp->fill_trigger = p->fill_trigger;
	mp->calm_ms = p->calm_ms;
}

static struct rl *rl_make(const struct policy_params *p, const uint8_t seed[POLICY_SEED_LEN])
{
	return rl_new(p->rate_table_size, p->syn_rate, p->burst, p->prefix_v4, p->prefix_v6, seed);
}

struct policy *policy_new(const struct policy_params *p, const uint8_t seed[POLICY_SEED_LEN],
                          uint64_t now_ms)
{
	struct policy *ps;
	struct mode_params mp;

	if (!params_ok(p)) {
		errno = EINVAL;
		return NULL;
	}
	ps = calloc(1, sizeof(*ps));
	if (!ps)
		return NULL;
	ps->p = *p;
	mode_params(p, &mp);
	ps->mode = mode_new(&mp, now_ms);
	if (!ps->mode)
		goto fail;
	if (p->syn_rate && !(ps->rl = rl_make(p, seed)))
		goto fail;
	if (p->kind != MODE_COOKIE) {
		struct halfopen_params hp;

		ho_params(p, &hp);
		if (!(ps->ho = halfopen_new(&hp, seed + SIPHASH_KEY_LEN)))
			goto fail;
	}
	return ps;
fail:
	policy_free(ps);
	errno = ENOMEM;
	return NULL;
}

void policy_free(struct policy *ps)
{
	if (!ps)
		return;
	rl_free(ps->rl);
	halfopen_free(ps->ho);
	mode_free(ps->mode);
	free(ps);
}

int policy_reconfigure(struct policy *ps, const struct policy_params *p,
                       const uint8_t seed[POLICY_SEED_LEN], uint64_t now_ms, size_t *dropped)
{
	const struct policy_params *o = &ps->p;
	struct rl *new_rl = NULL;
	struct halfopen *new_ho = NULL;
	bool rl_rebuild, ho_create;
	struct mode_params mp;
	size_t lost = 0;

	if (dropped)
		*dropped = 0;
	if (!params_ok(p)) {
		errno = EINVAL;
		return -1;
	}
	/* Everything that can fail comes first, so a failure changes nothing. */
	rl_rebuild = p->syn_rate && (!ps->rl || p->rate_table_size != o->rate_table_size ||
	                             p->prefix_v4 != o->prefix_v4 || p->prefix_v6 != o->prefix_v6);
	if (rl_rebuild && !(new_rl = rl_make(p, seed)))
		return -1;
	ho_create = p->kind != MODE_COOKIE && !ps->ho;
	if (ho_create) {
		struct halfopen_params hp;

		ho_params(p, &hp);
		if (!(new_ho = halfopen_new(&hp, seed + SIPHASH_KEY_LEN))) {
			rl_free(new_rl);
			return -1;
		}
	} else if (p->kind != MODE_COOKIE) {
		struct halfopen_params hp;

		ho_params(p, &hp);
		if (halfopen_reconfigure(ps->ho, &hp, &lost) < 0) {
			rl_free(new_rl);
			return -1;
		}
	}

	if (!p->syn_rate) {
		rl_free(ps->rl);
		ps->rl = NULL;
	} else if (rl_rebuild) {
		rl_free(ps->rl);
		ps->rl = new_rl;
	} else if (p->syn_rate != o->syn_rate || p->burst != o->burst) {
		(void)rl_set_params(ps->rl, p->syn_rate, p->burst, now_ms); /* checked: both > 0 */
	}
	if (p->kind == MODE_COOKIE && ps->ho) {
		/* Its ACKs still validate as cookies: only the exact options are lost. */
		lost = halfopen_count(ps->ho);
		halfopen_free(ps->ho);
		ps->ho = NULL;
	} else if (ho_create) {
		ps->ho = new_ho;
	}
	mode_params(p, &mp);
	mode_set_params(ps->mode, &mp);
	ps->p = *p;
	if (dropped)
		*dropped = lost;
	return 0;
}

enum policy_access policy_access_of(const struct policy *ps, int family, const uint8_t *addr)
{
	int32_t v;

	if (!ps->p.access)
		return POLICY_ACCESS_NONE;
	v = cidr_set_lookup(ps->p.access, family, addr);
	if (v == POLICY_DENIED)
		return POLICY_ACCESS_DENY;
	return v == POLICY_ALLOWED ? POLICY_ACCESS_ALLOW : POLICY_ACCESS_NONE;
}

static double fill_of(const struct policy *ps)
{
	return ps->ho ? halfopen_occupancy(ps->ho) : 0.0;
}

enum policy_syn policy_syn_check(struct policy *ps, const struct pkt_tuple *t, uint64_t now_ms,
                                 enum mode_event *ev)
{
	enum policy_access a = policy_access_of(ps, t->family, t->saddr);

	if (ev)
		*ev = MODE_EV_NONE;
	if (a == POLICY_ACCESS_DENY)
		return POLICY_SYN_DENY;
	if (ps->rl && a != POLICY_ACCESS_ALLOW && !rl_allow(ps->rl, t->family, t->saddr, now_ms))
		return POLICY_SYN_RATE_LIMITED;
	if (mode_syn(ps->mode, now_ms, fill_of(ps), ev) == MODE_USE_COOKIE || !ps->ho)
		return POLICY_SYN_COOKIE;
	return POLICY_SYN_STATEFUL;
}

enum policy_ins policy_syn_insert(struct policy *ps, const struct halfopen_syn *syn,
                                  uint64_t now_ms, struct halfopen_entry *existing)
{
	if (!ps->ho)
		return POLICY_INS_COOKIE;
	switch (halfopen_insert(ps->ho, syn, now_ms)) {
	case HALFOPEN_OK:
		return POLICY_INS_NEW;
	case HALFOPEN_EEXIST:
		if (halfopen_find(ps->ho, &syn->t, existing))
			return POLICY_INS_RESEND;
		return POLICY_INS_COOKIE; /* cannot happen: it was just there */
	case HALFOPEN_EFULL:
		return ps->p.kind == MODE_AUTO ? POLICY_INS_COOKIE : POLICY_INS_FULL;
	case HALFOPEN_ESOURCE:
		return ps->p.kind == MODE_AUTO ? POLICY_INS_COOKIE : POLICY_INS_SOURCE_FULL;
	}
	return POLICY_INS_COOKIE;
}

enum policy_ack policy_ack(const struct policy *ps, const struct pkt_tuple *t, uint32_t seq,
                           uint32_t ack, struct halfopen_entry *e)
{
	struct halfopen_entry tmp;

	if (policy_access_of(ps, t->family, t->saddr) == POLICY_ACCESS_DENY)
		return POLICY_ACK_DENY;
	if (!e)
		e = &tmp;
	if (ps->ho && halfopen_find(ps->ho, t, e) && seq == e->syn.client_isn + 1 &&
	    ack == e->syn.our_isn + 1)
		return POLICY_ACK_HALFOPEN;
	return POLICY_ACK_COOKIE;
}

bool policy_ack_done(struct policy *ps, const struct pkt_tuple *t)
{
	return ps->ho && halfopen_remove(ps->ho, t);
}

bool policy_handshake_done(struct policy *ps, const struct pkt_tuple *t, uint32_t seq, uint32_t ack)
{
	struct halfopen_entry e;

	if (!ps->ho || !halfopen_find(ps->ho, t, &e) || seq != e.syn.client_isn + 1 ||
	    ack != e.syn.our_isn + 1)
		return false;
	return halfopen_remove(ps->ho, t);
}

bool policy_reset(struct policy *ps, const struct pkt_tuple *t, uint32_t seq, bool has_ack,
                  uint32_t ack)
{
	struct halfopen_entry e;

	if (!ps->ho || !halfopen_find(ps->ho, t, &e) || seq != e.syn.client_isn + 1 ||
	    (has_ack && ack != e.syn.our_isn + 1))
		return false;
	return halfopen_remove(ps->ho, t);
}

size_t policy_due(struct policy *ps, uint64_t now_ms, struct halfopen_event *evs, size_t max)
{
	return ps->ho ? halfopen_due(ps->ho, now_ms, evs, max) : 0;
}

enum mode_use policy_tick(struct policy *ps, uint64_t now_ms, enum mode_event *ev)
{
	return mode_eval(ps->mode, now_ms, fill_of(ps), ev);
}

void policy_note_syns(struct policy *ps, uint64_t now_ms, uint32_t n)
{
	mode_note_syns(ps->mode, now_ms, n);
}

uint64_t policy_next_due(const struct policy *ps)
{
	return ps->ho ? halfopen_next_due(ps->ho) : UINT64_MAX;
}

enum mode_use policy_mode(const struct policy *ps)
{
	return mode_current(ps->mode);
}

unsigned policy_mode_why(const struct policy *ps)
{
	return mode_why(ps->mode);
}

uint32_t policy_syn_rate(const struct policy *ps, uint64_t now_ms)
{
	return mode_rate(ps->mode, now_ms);
}

size_t policy_half_open(const struct policy *ps)
{
	return ps->ho ? halfopen_count(ps->ho) : 0;
}

size_t policy_half_open_capacity(const struct policy *ps)
{
	return ps->ho ? halfopen_capacity(ps->ho) : 0;
}

bool policy_has_rate_limit(const struct policy *ps)
{
	return ps->rl != NULL;
}
