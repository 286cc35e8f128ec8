/*
 * The policies' allow and deny lists in the kernel programs' LPM trie maps
 * (local_ack.h's sg_local_acl4 / sg_local_acl6 layout, which xdp_syn.h's
 * maps share). Each key starts with a tag, the policy index plus a
 * generation bit: a reload writes the new generation (bpfacl_write for each
 * policy), switches the listeners' tags, then deletes the old one
 * (bpfacl_prune), so no packet sees a half-written list.
 */
#ifndef SYNGUARD_BPFACL_H
#define SYNGUARD_BPFACL_H

#include <stdint.h>

#include "conf.h"

/* p's entries under tag into fd4 and fd6; failures logged, prefixed with who. */
void bpfacl_write(int fd4, int fd6, const struct conf_policy *p, uint32_t tag, const char *who);
/* Deletes the entries whose generation bit is not gen's (SG_LOCAL_GEN_BIT or 0). */
void bpfacl_prune(int fd4, int fd6, uint32_t gen);

#endif
