/*
 * Fuzz target: the configuration parser and validator on arbitrary text.
 *
 * Must never crash or leak (LeakSanitizer runs at exit and, with
 * -detect_leaks=1, after every input that leaks). libconfig 1.5 leaks the
 * buffer of a string token that is the lookahead of a syntax error; that one
 * frame is suppressed in lsan.supp, nothing else.
 *
 * Invariants: a success returns a configuration the daemon can use as is
 * (names terminated, queue range and policy indexes in bounds, every
 * listener found by its own address and port) and no message; a failure
 * returns no object and a message naming the file; a smaller message buffer
 * gets a prefix of the same message.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c))                                                                          \
			__builtin_trap();                                                          \
	} while (0)

#define FILE_NAME "fuzz.conf"

static void check_conf(const struct conf *c)
{
	CHECK(c->n_listeners >= 1 && c->listeners);
	CHECK(c->n_policies >= 1 && c->policies);
	CHECK(c->daemon.queue_first <= c->daemon.queue_last);
	CHECK(c->daemon.queue_last - c->daemon.queue_first < CONF_QUEUES_MAX);
	CHECK(c->daemon.cookie_rotation > 0);
	CHECK(memchr(c->daemon.control_socket, 0, CONF_PATH_MAX) != NULL);
	CHECK(memchr(c->daemon.user, 0, CONF_USER_MAX) != NULL);
	CHECK(memchr(c->daemon.cookie_secret_file, 0, CONF_FILE_MAX) != NULL);
	for (size_t i = 0; i < c->n_policies; i++) {
		const struct conf_policy *p = &c->policies[i];

		CHECK(memchr(p->name, 0, CONF_NAME_MAX) != NULL);
		CHECK(p->wscale <= 14);
		for (int k = 0; k < 3; k++)
			CHECK(p->mss[k] <= p->mss[k + 1] && p->mss6[k] <= p->mss6[k + 1]);
	}
	for (size_t i = 0; i < c->n_listeners; i++) {
		const struct conf_listener *l = &c->listeners[i];
		int j;

		CHECK(memchr(l->name, 0, CONF_NAME_MAX) != NULL);
		CHECK(l->family == AF_INET || l->family == AF_INET6);
		CHECK(l->port != 0);
		CHECK(l->policy < c->n_policies);
		CHECK(l->proxy_protocol <= 2);
		CHECK(l->backend_len > 0 && l->backend_len <= sizeof(l->backend));
		j = conf_match_listener(c, l->family, l->addr, l->port);
		CHECK(j >= 0 && (size_t)j < c->n_listeners);
		CHECK(c->listeners[j].family == l->family && c->listeners[j].port == l->port);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512], small[48];
	size_t small_len = 1 + size % sizeof(small);
	struct conf *c = NULL, *c2 = NULL;
	char *text;
	int rc, rc2;

	text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';

	memset(err, 'x', sizeof(err));
	rc = conf_parse(text, FILE_NAME, &c, err, sizeof(err));
	CHECK(rc == 0 || rc == -1);
	CHECK(memchr(err, 0, sizeof(err)) != NULL);
	if (rc == 0) {
		CHECK(c != NULL);
		CHECK(err[0] == '\0');
		check_conf(c);
	} else {
		CHECK(c == NULL);
		CHECK(strncmp(err, FILE_NAME ":", strlen(FILE_NAME ":")) == 0);
	}

	memset(small, 'x', sizeof(small));
	rc2 = conf_parse(text, FILE_NAME, &c2, small, small_len);
	CHECK(rc2 == rc);
	CHECK(memchr(small, 0, small_len) != NULL);
	CHECK(strncmp(small, err, strlen(small)) == 0);
	CHECK(small_len == sizeof(small) || small[small_len] == 'x');

	conf_free(c);
	conf_free(c2);
	free(text);
	return 0;
}
