/*
 * The policies' allow and deny lists as the kernel programs read them: two
 * LPM tries per program (IPv4, IPv6) keyed by the policy's tag and the
 * source address (struct sg_local_acl4/6, local_ack.h), written by the
 * daemon (bpfacl.c). One lookup for every program; each passes its own maps.
 */
#ifndef SYNGUARD_ACL_BPF_H
#define SYNGUARD_ACL_BPF_H

#include "cookie.bpf.h"
#include "local_ack.h"

/* The source's entry under policy tag `policy`, longest prefix first:
 * SG_LOCAL_ACL_DENY, SG_LOCAL_ACL_ALLOW or 0 (none). */
static __always_inline __u8 sg_acl_of(void *acl4, void *acl6, __u32 policy,
                                      const struct sg_cookie_tuple *t)
{
	__u8 *v;

	if (t->family == COOKIE_IN_FAMILY4) {
		struct sg_local_acl4 k = {.prefixlen = 64, .policy = policy};

		__builtin_memcpy(k.addr, t->saddr, 4);
		v = bpf_map_lookup_elem(acl4, &k);
	} else {
		struct sg_local_acl6 k = {.prefixlen = 160, .policy = policy};

		__builtin_memcpy(k.addr, t->saddr, 16);
		v = bpf_map_lookup_elem(acl6, &k);
	}
	return v ? *v : 0;
}

#endif
