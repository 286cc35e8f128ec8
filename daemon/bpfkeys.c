/*
 * Cookie keys for the kernel programs: see bpfkeys.h and, for the protocol,
 * bpf/cookie_keys.h.
 */
#include "bpfkeys.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <sodium.h>

#include "cookie_keys.h"

struct bpfkeys {
	int map_fd;
	uint8_t master[COOKIE_MASTER_LEN];
	/* What the map holds, so that a call within the same epoch writes nothing. */
	uint32_t slot_epoch[SG_COOKIE_KEY_SLOTS];
	bool slot_live[SG_COOKIE_KEY_SLOTS];
	uint32_t now;
	bool have_now;
	/* The clock entry written last (have_clock: one was). */
	uint64_t clock_off_ns;
	uint32_t rotation;
	bool have_clock;
};

#ifdef SYNGUARD_TEST_HOOKS
#include <unistd.h>

/* A test's fault: see daemon/bpf/CMakeLists.txt. */
static bool test_fault(void)
{
	const char *path = getenv("SYNGUARD_TEST_KEY_FAULT");

	return path && path[0] && access(path, F_OK) == 0;
}
#endif

static int put(int map_fd, uint32_t idx, const struct sg_cookie_keyent *ent)
{
#ifdef SYNGUARD_TEST_HOOKS
	if (test_fault()) {
		errno = EIO;
		return -1;
	}
#endif
	return bpf_map_update_elem(map_fd, &idx, ent, BPF_ANY) == 0 ? 0 : -1;
}

int bpfkeys_put_key(int map_fd, uint32_t epoch, const uint8_t key[COOKIE_KEY_LEN])
{
	struct sg_cookie_keyent ent = {.epoch = epoch, .flags = SG_COOKIE_KEY_LIVE};
	int rc;

	memcpy(ent.key, key, COOKIE_KEY_LEN);
	rc = put(map_fd, epoch & (SG_COOKIE_KEY_SLOTS - 1), &ent);
	sodium_memzero(&ent, sizeof(ent));
	return rc;
}

int bpfkeys_put_now(int map_fd, uint32_t epoch)
{
	struct sg_cookie_keyent ent = {.epoch = epoch, .flags = SG_COOKIE_KEY_LIVE};

	return put(map_fd, SG_COOKIE_KEYS_NOW, &ent);
}

int bpfkeys_put_clock(int map_fd, uint64_t clock_off_ns, uint32_t rotation)
{
	struct sg_cookie_keyent ent = {.flags = SG_COOKIE_KEY_LIVE | SG_COOKIE_NOW_CLOCK};

	ent.clock_off_ns = clock_off_ns;
	ent.rotation_ns = (uint64_t)rotation * 1000000000u;
	return put(map_fd, SG_COOKIE_KEYS_NOW, &ent);
}

int bpfkeys_clear(int map_fd)
{
	struct sg_cookie_keyent ent = {0};

	/* The current epoch first: no program then reads a slot while it is cleared. */
	if (put(map_fd, SG_COOKIE_KEYS_NOW, &ent) < 0)
		return -1;
	for (uint32_t i = 0; i < SG_COOKIE_KEY_SLOTS; i++)
		if (put(map_fd, i, &ent) < 0)
			return -1;
	return 0;
}

struct bpfkeys *bpfkeys_new(int map_fd, const uint8_t master[COOKIE_MASTER_LEN])
{
	struct bpfkeys *b = calloc(1, sizeof(*b));

	if (b == NULL)
		return NULL;
	b->map_fd = map_fd;
	memcpy(b->master, master, COOKIE_MASTER_LEN);
	return b;
}

void bpfkeys_free(struct bpfkeys *b)
{
	if (b == NULL)
		return;
	sodium_memzero(b, sizeof(*b));
	free(b);
}

static int install(struct bpfkeys *b, uint32_t epoch)
{
	uint32_t i = epoch & (SG_COOKIE_KEY_SLOTS - 1);
	uint8_t key[COOKIE_KEY_LEN];
	int rc;

	if (b->slot_live[i] && b->slot_epoch[i] == epoch)
		return 0;
	cookie_derive_key(key, b->master, epoch);
	rc = bpfkeys_put_key(b->map_fd, epoch, key);
	sodium_memzero(key, sizeof(key));
	if (rc < 0) {
		/* The slot's content is unknown now: write it again next time. */
		b->slot_live[i] = false;
		return -1;
	}
	b->slot_epoch[i] = epoch;
	b->slot_live[i] = true;
	return 0;
}

int bpfkeys_set_epoch(struct bpfkeys *b, uint32_t epoch)
{
	if (b->have_now && b->now == epoch)
		return 0;
	/* Both keys before the epoch that needs them is published: step 1, then step 2. */
	if (install(b, epoch - 1) < 0 || install(b, epoch) < 0)
		return -1;
	if (bpfkeys_put_now(b->map_fd, epoch) < 0) {
		b->have_now = false;
		return -1;
	}
	b->now = epoch;
	b->have_now = true;
	b->have_clock = false;
	return 0;
}

int bpfkeys_set_clock(struct bpfkeys *b, uint32_t epoch, uint64_t clock_off_ns, uint32_t rotation)
{
	uint64_t moved;

	/* e + 1's slot held e - 3's key, which no program reads in e: written ahead, it is
	 * there before the clock gets to e + 1, however late the next call comes. */
	if (install(b, epoch - 1) < 0 || install(b, epoch) < 0 || install(b, epoch + 1) < 0)
		return -1;
	moved = clock_off_ns > b->clock_off_ns ? clock_off_ns - b->clock_off_ns
	                                       : b->clock_off_ns - clock_off_ns;
	if (b->have_clock && b->rotation == rotation && moved < BPFKEYS_CLOCK_SLACK_NS)
		return 0;
	b->have_now = false; /* a later bpfkeys_set_epoch writes its epoch again */
	if (bpfkeys_put_clock(b->map_fd, clock_off_ns, rotation) < 0) {
		b->have_clock = false;
		return -1;
	}
	b->clock_off_ns = clock_off_ns;
	b->rotation = rotation;
	b->have_clock = true;
	return 0;
}
