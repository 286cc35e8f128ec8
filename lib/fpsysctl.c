/*
 * Kernel switches against local listeners' policies: see fpsysctl.h.
 */
#include "fpsysctl.h"

#include <stdbool.h>
#include <stdio.h>

static size_t add(struct fpsysctl_issue *out, size_t max, size_t n, size_t listener,
                  const char *key, const char *sysctl, int value, enum fpsysctl_harm harm)
{
	if (n < max)
		out[n] = (struct fpsysctl_issue){.listener = listener,
		                                 .policy_key = key,
		                                 .sysctl = sysctl,
		                                 .value = value,
		                                 .harm = harm};
	return n + 1;
}

size_t fpsysctl_check(const struct conf *c, const struct fpsysctl_values *v,
                      struct fpsysctl_issue *out, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; c && i < c->n_listeners; i++) {
		const struct conf_listener *l = &c->listeners[i];
		const struct conf_policy *p = &c->policies[l->policy];

		if (l->handoff != CONF_HANDOFF_LOCAL)
			continue;
		if (v->syncookies == 0)
			n = add(out, max, n, i, "handoff", "net.ipv4.tcp_syncookies", 0,
			        FPSYSCTL_EVERY);
		if (p->timestamps && v->timestamps == 0)
			n = add(out, max, n, i, "timestamps", "net.ipv4.tcp_timestamps", 0,
			        FPSYSCTL_SOME);
		if (p->sack && v->sack == 0)
			n = add(out, max, n, i, "sack", "net.ipv4.tcp_sack", 0, FPSYSCTL_SOME);
		/* every client offering window scaling gets it: no policy key turns it off */
		if (v->window_scaling == 0)
			n = add(out, max, n, i, "wscale", "net.ipv4.tcp_window_scaling", 0,
			        FPSYSCTL_SOME);
	}
	return n;
}

void fpsysctl_describe(const struct conf *c, const struct fpsysctl_issue *is, char *buf, size_t len)
{
	const struct conf_listener *l = &c->listeners[is->listener];
	const char *pol = c->policies[l->policy].name;

	if (is->harm == FPSYSCTL_EVERY) {
		snprintf(buf, len,
		         "listener %s (handoff \"local\"): %s = %d: the kernel takes no connection "
		         "from the fast path, every handshake fails: set %s to 1",
		         l->name, is->sysctl, is->value, is->sysctl);
		return;
	}
	if (is->policy_key[0] == 'w') {
		snprintf(buf, len,
		         "listener %s (policy %s, wscale): %s = %d: the kernel refuses the "
		         "connection of every client that offers window scaling (nearly all; "
		         "counted handoff_failed, the client hangs): set %s to 1 (no policy key "
		         "turns window scaling off)",
		         l->name, pol, is->sysctl, is->value, is->sysctl);
		return;
	}
	snprintf(buf, len,
	         "listener %s (policy %s, %s = true): %s = %d: the kernel refuses the "
	         "connection of every client that offers %s (counted handoff_failed, the client "
	         "hangs): set %s to 1, or %s = false in policy %s",
	         l->name, pol, is->policy_key, is->sysctl, is->value,
	         is->policy_key[0] == 's' ? "SACK" : "timestamps", is->sysctl, is->policy_key, pol);
}
