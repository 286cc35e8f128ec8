/*
 * Cookie master key from a shared secret file (daemon.cookie_secret_file).
 *
 * By default the cookie master is random and lives in memory only. Hosts
 * of one fleet behind ECMP or anycast must validate each other's cookies (a
 * client's ACK may reach another host than its SYN did), so they can share
 * a secret file instead: master = BLAKE2b-256 (crypto_generichash) of the
 * file's content, and cookie_derive_key() turns the master into the same
 * per-epoch keys everywhere. Epochs follow the real-time clock, so the hosts'
 * clocks must agree (NTP) to well within one cookie_rotation.
 *
 * The file is a key: it must be a regular file of at least 32 bytes, owned
 * by root, by the daemon's user or by whoever runs the check, and give no
 * permission at all to group or others. Anything else is refused.
 */
#ifndef SYNGUARD_SECRET_H
#define SYNGUARD_SECRET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "cookie.h"

#define SECRET_MIN 32
#define SECRET_MAX 65536

/* Who may own the file: root, `self` (the checking process) and, when
 * have_daemon_uid, the daemon's user. */
struct secret_owners {
	uid_t self;
	uid_t daemon_uid;
	bool have_daemon_uid;
};

/* Pure: may a file with this stat be used as the secret? 0, or -1 with a message. */
int secret_check_stat(const char *path, const struct stat *st, const struct secret_owners *ok,
                      char *err, size_t errlen);

/* Reads and checks the file, and derives the cookie master. 0, or -1 with a message. */
int secret_load(const char *path, const struct secret_owners *ok, uint8_t master[COOKIE_MASTER_LEN],
                char *err, size_t errlen);

#endif
