/*
 * Cookie secret file: the permission rules on made-up stat results (owners
 * that a test cannot create), then real files in the build directory: a
 * good one derives the documented master, unsafe ones are refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "secret.h"

static const struct secret_owners owners = {
    .self = 1000, .daemon_uid = 999, .have_daemon_uid = true};

static void expect_stat(mode_t mode, uid_t uid, off_t size, const struct secret_owners *ok,
                        const char *needle)
{
	struct stat st = {.st_mode = mode, .st_uid = uid, .st_size = size};
	char err[512] = "";
	int r = secret_check_stat("k", &st, ok, err, sizeof(err));

	if (!needle) {
		if (r != 0)
			fail_msg("mode %o uid %u size %lld refused: %s", (unsigned)mode,
			         (unsigned)uid, (long long)size, err);
		return;
	}
	if (r != -1)
		fail_msg("mode %o uid %u size %lld accepted, expected \"%s\"", (unsigned)mode,
		         (unsigned)uid, (long long)size, needle);
	if (!strstr(err, needle))
		fail_msg("\"%s\" does not contain \"%s\"", err, needle);
}

static void test_check_stat(void **state)
{
	struct secret_owners no_daemon = owners;

	(void)state;
	/* good: 0600 or 0400, owned by root, the checking user or the daemon's user */
	expect_stat(S_IFREG | 0600, 0, 32, &owners, NULL);
	expect_stat(S_IFREG | 0400, 0, 32, &owners, NULL);
	expect_stat(S_IFREG | 0600, 1000, 64, &owners, NULL);
	expect_stat(S_IFREG | 0400, 999, SECRET_MAX, &owners, NULL);
	expect_stat(S_IFREG | 0000, 0, 32, &owners, NULL);

	/* group or others get anything at all */
	expect_stat(S_IFREG | 0644, 0, 32, &owners,
	            "cookie secret file k has mode 0644: group and others must have no access to "
	            "a key (chmod 600 k)");
	expect_stat(S_IFREG | 0604, 0, 32, &owners, "has mode 0604");
	expect_stat(S_IFREG | 0640, 0, 32, &owners, "has mode 0640");
	expect_stat(S_IFREG | 0620, 0, 32, &owners, "has mode 0620");
	expect_stat(S_IFREG | 0601, 0, 32, &owners, "has mode 0601");
	expect_stat(S_IFREG | 0610, 0, 32, &owners, "has mode 0610");

	/* somebody else's file */
	expect_stat(S_IFREG | 0600, 4242, 32, &owners,
	            "cookie secret file k is owned by uid 4242: it must belong to root or to the "
	            "daemon's user");
	no_daemon.have_daemon_uid = false;
	expect_stat(S_IFREG | 0600, 999, 32, &no_daemon, "is owned by uid 999");

	/* not a file */
	expect_stat(S_IFDIR | 0700, 0, 4096, &owners, "cookie secret file k is not a regular file");
	expect_stat(S_IFIFO | 0600, 0, 0, &owners, "is not a regular file");
	expect_stat(S_IFCHR | 0600, 0, 0, &owners, "is not a regular file");

	/* too little or too much secret */
	expect_stat(S_IFREG | 0600, 0, 31, &owners,
	            "cookie secret file k holds 31 bytes: it must hold 32..65536");
	expect_stat(S_IFREG | 0600, 0, 0, &owners, "holds 0 bytes");
	expect_stat(S_IFREG | 0600, 0, SECRET_MAX + 1, &owners, "holds 65537 bytes");
}

struct files {
	char dir[512];
	char path[600];
};

static int setup(void **state)
{
	static struct files f;
	const char *base = getenv("SG_TEST_DIR");

	snprintf(f.dir, sizeof(f.dir), "%s/secret.XXXXXX", base ? base : ".");
	if (!mkdtemp(f.dir))
		return -1;
	snprintf(f.path, sizeof(f.path), "%s/cookie.key", f.dir);
	*state = &f;
	return sodium_init() < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	struct files *f = *state;

	unlink(f->path);
	rmdir(f->dir);
	return 0;
}

static void write_key(const char *path, const void *data, size_t len, mode_t mode)
{
	int fd;

	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
	assert_int_equal(chmod(path, mode), 0);
}

static void test_load(void **state)
{
	struct files *f = *state;
	struct secret_owners self = {.self = geteuid()};
	uint8_t key[48], master[COOKIE_MASTER_LEN], want[COOKIE_MASTER_LEN],
	    other[COOKIE_MASTER_LEN];
	char err[512];

	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)(i * 7 + 1);

	/* master = BLAKE2b-256 of the whole content, whoever loads it */
	write_key(f->path, key, sizeof(key), 0600);
	assert_int_equal(secret_load(f->path, &self, master, err, sizeof(err)), 0);
	crypto_generichash(want, sizeof(want), key, sizeof(key), NULL, 0);
	assert_memory_equal(master, want, sizeof(want));

	write_key(f->path, key, sizeof(key), 0400);
	memset(other, 0, sizeof(other));
	assert_int_equal(secret_load(f->path, &self, other, err, sizeof(err)), 0);
	assert_memory_equal(other, master, sizeof(master));

	/* one byte more is another master */
	write_key(f->path, key, 33, 0600);
	assert_int_equal(secret_load(f->path, &self, other, err, sizeof(err)), 0);
	assert_memory_not_equal(other, master, sizeof(master));

	/* unsafe modes and short files are refused, and say why */
	write_key(f->path, key, sizeof(key), 0644);
	assert_int_equal(secret_load(f->path, &self, other, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "has mode 0644"));
	write_key(f->path, key, sizeof(key), 0640);
	assert_int_equal(secret_load(f->path, &self, other, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "has mode 0640"));
	write_key(f->path, key, 31, 0600);
	assert_int_equal(secret_load(f->path, &self, other, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "holds 31 bytes"));

	/* a directory, and nothing at all */
	assert_int_equal(secret_load(f->dir, &self, other, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "is not a regular file"));
	unlink(f->path);
	assert_int_equal(secret_load(f->path, &self, other, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "No such file or directory"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_check_stat),
	    cmocka_unit_test_setup_teardown(test_load, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
