/*
 * Allow and deny lists of the kernel programs: see bpfacl.h.
 */
#include "bpfacl.h"

#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <string.h>

#include <bpf/bpf.h>

#include "bpfslots.h"
#include "local_ack.h"
#include "log.h"

void bpfacl_write(int fd4, int fd6, const struct conf_policy *p, uint32_t tag, const char *who)
{
	for (int list = 0; list < 2; list++) {
		const struct cidr *cs = list ? p->deny : p->allow;
		size_t n = list ? p->n_deny : p->n_allow;
		uint8_t v = list ? SG_LOCAL_ACL_DENY : SG_LOCAL_ACL_ALLOW;

		for (size_t i = 0; i < n; i++) {
			int rc;

			if (cs[i].family == AF_INET) {
				struct sg_local_acl4 k = {.prefixlen = 32u + cs[i].len,
				                          .policy = tag};

				memcpy(k.addr, cs[i].addr, 4);
				rc = bpf_map_update_elem(fd4, &k, &v, BPF_ANY);
			} else {
				struct sg_local_acl6 k = {.prefixlen = 32u + cs[i].len,
				                          .policy = tag};

				memcpy(k.addr, cs[i].addr, 16);
				rc = bpf_map_update_elem(fd6, &k, &v, BPF_ANY);
			}
			if (rc < 0)
				log_warnx("%s: policy %s: ACL entry: %s", who, p->name,
				          strerror(errno));
		}
	}
}

static bool acl_old(const void *k, const void *arg)
{
	uint32_t tag;

	memcpy(&tag, (const uint8_t *)k + offsetof(struct sg_local_acl4, policy), sizeof(tag));
	return (tag & SG_LOCAL_GEN_BIT) != *(const uint32_t *)arg;
}

void bpfacl_prune(int fd4, int fd6, uint32_t gen)
{
	bpfmap_prune(fd4, sizeof(struct sg_local_acl4), acl_old, &gen);
	bpfmap_prune(fd6, sizeof(struct sg_local_acl6), acl_old, &gen);
}
