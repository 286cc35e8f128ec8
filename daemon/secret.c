/*
 * Cookie secret file. See secret.h.
 *
 * The checks run on the opened file (fstat), so the file judged is the file
 * read; a symbolic link is followed, and its target is what must be safe.
 */
#include "secret.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int secret_check_stat(const char *path, const struct stat *st, const struct secret_owners *ok,
                      char *err, size_t errlen)
{
	bool owner_ok = st->st_uid == 0 || st->st_uid == ok->self ||
	                (ok->have_daemon_uid && st->st_uid == ok->daemon_uid);

	if (!S_ISREG(st->st_mode)) {
		snprintf(err, errlen, "cookie secret file %s is not a regular file", path);
		return -1;
	}
	if (!owner_ok) {
		snprintf(err, errlen,
		         "cookie secret file %s is owned by uid %u: it must belong to root or "
		         "to the daemon's user",
		         path, (unsigned)st->st_uid);
		return -1;
	}
	if (st->st_mode & (S_IRWXG | S_IRWXO)) {
		snprintf(err, errlen,
		         "cookie secret file %s has mode %04o: group and others must have no "
		         "access to a key (chmod 600 %s)",
		         path, (unsigned)(st->st_mode & 07777), path);
		return -1;
	}
	if (st->st_size < SECRET_MIN || st->st_size > SECRET_MAX) {
		snprintf(err, errlen,
		         "cookie secret file %s holds %lld bytes: it must hold %d..%d (e.g. head "
		         "-c 32 /dev/urandom)",
		         path, (long long)st->st_size, SECRET_MIN, SECRET_MAX);
		return -1;
	}
	return 0;
}

int secret_load(const char *path, const struct secret_owners *ok, uint8_t master[COOKIE_MASTER_LEN],
                char *err, size_t errlen)
{
	struct stat st;
	uint8_t *buf = NULL;
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY), rc = -1;

	if (fd < 0) {
		snprintf(err, errlen, "cookie secret file %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		snprintf(err, errlen, "cookie secret file %s: %s", path, strerror(errno));
		goto out;
	}
	if (secret_check_stat(path, &st, ok, err, errlen) < 0)
		goto out;
	buf = malloc((size_t)st.st_size);
	if (!buf) {
		snprintf(err, errlen, "cookie secret file %s: out of memory", path);
		goto out;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(err, errlen, "cookie secret file %s: read: %s", path,
			         n < 0 ? strerror(errno) : "file shrank");
			goto out;
		}
		got += (size_t)n;
	}
	if (crypto_generichash(master, COOKIE_MASTER_LEN, buf, got, NULL, 0) != 0) {
		snprintf(err, errlen, "cookie secret file %s: hashing failed", path);
		goto out;
	}
	rc = 0;
out:
	if (buf) {
		sodium_memzero(buf, (size_t)st.st_size);
		free(buf);
	}
	close(fd);
	return rc;
}
