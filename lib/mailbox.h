/*
 * A bounded single-producer, single-consumer queue of fixed-size items,
 * for handing work from one thread to another without a lock: the producer
 * writes only the tail, the consumer only the head (acquire/release pairs,
 * each on its own cache line), so neither ever waits for the other. A full
 * mailbox refuses the item; the producer decides what that costs.
 *
 * Capacity is rounded up to a power of two and fixed at mailbox_new; nothing
 * is allocated afterwards. Exactly one thread may put and exactly one may get
 * at a time (the two may be the same).
 */
#ifndef SYNGUARD_MAILBOX_H
#define SYNGUARD_MAILBOX_H

#include <stdbool.h>
#include <stddef.h>

#define MAILBOX_MAX_CAPACITY ((size_t)1 << 24)
#define MAILBOX_MAX_ITEM     4096

struct mailbox;

/* NULL (errno EINVAL: capacity or item_size 0 or above the maxima; ENOMEM). */
struct mailbox *mailbox_new(size_t capacity, size_t item_size);
void mailbox_free(struct mailbox *m);

/* Producer: copies item in; false when the mailbox is full (nothing changed). */
bool mailbox_put(struct mailbox *m, const void *item);

/* Consumer: copies the oldest item out and removes it; false when empty. */
bool mailbox_get(struct mailbox *m, void *item);

/* The capacity after rounding. */
size_t mailbox_capacity(const struct mailbox *m);

#endif
