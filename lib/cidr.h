/*
 * CIDR prefixes and sets of them with longest-prefix match, IPv4 and IPv6:
 * allow and deny lists, or any prefix -> value map, looked up per packet.
 *
 * A set is built once, at configuration load, and then only read. Building
 * flattens the (possibly nested) prefixes of each family into the sorted
 * start points of disjoint address ranges, each carrying the value of the
 * longest prefix that covers it (or -1). n prefixes give at most 2n + 1
 * ranges. A lookup is one branch-free binary search over the start points
 * (32-bit numbers for IPv4, pairs of 64-bit numbers for IPv6): O(log n), no
 * allocation, no pointer chasing, and the same cost whatever the prefix
 * lengths.
 *
 * IPv4-mapped IPv6 text (::ffff:192.0.2.1) is an IPv6 prefix: the daemon sees
 * IPv4 packets as AF_INET, never as mapped addresses.
 */
#ifndef SYNGUARD_CIDR_H
#define SYNGUARD_CIDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest text cidr_format writes, NUL included: an IPv6 address, "/128". */
#define CIDR_TEXT_MAX (46 + 4)

struct cidr {
	uint8_t family;   /* AF_INET or AF_INET6 */
	uint8_t len;      /* prefix length: 0..32 or 0..128 */
	uint8_t addr[16]; /* network order, host bits zero; IPv4 in the first 4 bytes */
};

/*
 * Parses "192.0.2.0/24", "2001:db8::/32", or a plain address (a /32 or /128).
 * Refuses bad addresses, prefix lengths that are missing, not decimal or out
 * of range, and set host bits ("192.0.2.1/24" names a host, not a network:
 * the message gives the network). Returns 0, or -1 with a message in err.
 */
int cidr_parse(const char *text, struct cidr *out, char *err, size_t errlen);

/* Writes "addr/len" (at most CIDR_TEXT_MAX bytes with the NUL). */
void cidr_format(const struct cidr *c, char *buf, size_t len);

/* True when addr (network order, 4 or 16 bytes by family) lies in c. */
bool cidr_contains(const struct cidr *c, int family, const uint8_t *addr);

struct cidr_entry {
	struct cidr net;
	int32_t value; /* >= 0 */
};

struct cidr_set;

/*
 * Builds a set from n entries (the array is not kept). The same prefix twice
 * with the same value counts once; with different values it is an error, as
 * is a negative value or an invalid prefix. Returns NULL with a message in
 * err (or "out of memory").
 */
struct cidr_set *cidr_set_new(const struct cidr_entry *entries, size_t n, char *err, size_t errlen);
void cidr_set_free(struct cidr_set *s);

/* The value of the longest prefix containing addr (network order, 4 or 16 bytes by family),
 * or -1. A family other than AF_INET and AF_INET6 matches nothing. */
int32_t cidr_set_lookup(const struct cidr_set *s, int family, const uint8_t *addr);

/* Disjoint ranges the set was flattened into, per family (the search's size). */
size_t cidr_set_ranges(const struct cidr_set *s, int family);

#endif
