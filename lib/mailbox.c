/*
 * Single-producer, single-consumer mailbox: see mailbox.h.
 *
 * head and tail count items ever taken and ever put (they wrap, and only
 * their difference matters). The producer publishes an item by storing tail
 * with release after copying it in; the consumer reads tail with acquire
 * before copying out, and frees the slot by storing head with release, which
 * the producer reads with acquire before reusing it. Each side also keeps a
 * private copy of the other's index, refreshed only when the queue looks
 * full (or empty), so that the common case touches no shared line but its own.
 */
#include "mailbox.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAILBOX_LINE 64

struct mailbox {
	/* the consumer's line */
	_Alignas(MAILBOX_LINE) size_t head;
	size_t tail_seen; /* the consumer's last read of tail */
	/* the producer's line */
	_Alignas(MAILBOX_LINE) size_t tail;
	size_t head_seen; /* the producer's last read of head */
	/* read-only after mailbox_new */
	_Alignas(MAILBOX_LINE) size_t mask;
	size_t item_size;
	unsigned char *items;
};

struct mailbox *mailbox_new(size_t capacity, size_t item_size)
{
	struct mailbox *m;
	size_t n = 1;

	if (capacity == 0 || capacity > MAILBOX_MAX_CAPACITY || item_size == 0 ||
	    item_size > MAILBOX_MAX_ITEM) {
		errno = EINVAL;
		return NULL;
	}
	while (n < capacity)
		n <<= 1;
	m = aligned_alloc(MAILBOX_LINE, sizeof(*m));
	if (!m)
		return NULL;
	memset(m, 0, sizeof(*m));
	m->mask = n - 1;
	m->item_size = item_size;
	m->items = calloc(n, item_size);
	if (!m->items) {
		free(m);
		return NULL;
	}
	return m;
}

void mailbox_free(struct mailbox *m)
{
	if (!m)
		return;
	free(m->items);
	free(m);
}

bool mailbox_put(struct mailbox *m, const void *item)
{
	size_t tail = m->tail; /* only this thread writes it */

	if (tail - m->head_seen > m->mask) {
		m->head_seen = __atomic_load_n(&m->head, __ATOMIC_ACQUIRE);
		if (tail - m->head_seen > m->mask)
			return false;
	}
	memcpy(m->items + (tail & m->mask) * m->item_size, item, m->item_size);
	__atomic_store_n(&m->tail, tail + 1, __ATOMIC_RELEASE);
	return true;
}

bool mailbox_get(struct mailbox *m, void *item)
{
	size_t head = m->head; /* only this thread writes it */

	if (head == m->tail_seen) {
		m->tail_seen = __atomic_load_n(&m->tail, __ATOMIC_ACQUIRE);
		if (head == m->tail_seen)
			return false;
	}
	memcpy(item, m->items + (head & m->mask) * m->item_size, m->item_size);
	__atomic_store_n(&m->head, head + 1, __ATOMIC_RELEASE);
	return true;
}

size_t mailbox_capacity(const struct mailbox *m)
{
	return m->mask + 1;
}
