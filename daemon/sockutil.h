/*
 * Socket and file helpers, one behaviour each, shared by every part of the
 * daemon that needs them (in the spirit of Redis's anet.c). Errors: -1 and
 * a message in err; nothing here logs.
 */
#ifndef SYNGUARD_SOCKUTIL_H
#define SYNGUARD_SOCKUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "conf.h"
#include "pkt.h"

/* The client's (server false) or the server's (server true) address and port of t. Returns
 * the length of the address. */
socklen_t sock_addr_from_tuple(struct sockaddr_storage *ss, const struct pkt_tuple *t, bool server);

/* Closes fd with a reset (SO_LINGER 0): no FIN_WAIT or TIME_WAIT left behind for a
 * connection we drop. Nothing for fd < 0. */
void sock_close_reset(int fd);

/* Applies a policy's TCP keepalive to fd; nothing when k->idle is 0. Best effort: a socket
 * without keepalive still works. */
void sock_keepalive(int fd, const struct conf_keepalive *k);

/* Turns Nagle's algorithm off on fd. For a relay's sockets: the endpoints already coalesce
 * what they send, and a relay that held a short tail back until the previous segment is
 * acknowledged would add a delayed ACK's wait (tens of milliseconds) that the direct
 * connection does not have. Best effort. */
void sock_nodelay(int fd);

/*
 * A listening Unix stream socket (non-blocking, close-on-exec) at sun, with file mode
 * `mode`. A socket file that nobody answers (ECONNREFUSED: its daemon died) is removed
 * first; a live socket, or anything that is not a socket, is an error and left alone.
 * The file never exists with a wider mode than `mode`, and it accepts connections only
 * once it has exactly `mode`. An abstract address (sun_path[0] == '\0') has no file.
 * st (may be NULL) receives the file's identity for sock_unix_unlink (st_ino 0 when
 * abstract). Returns the fd, or -1 + err.
 */
int sock_unix_listen(const struct sockaddr_un *sun, socklen_t len, mode_t mode, int backlog,
                     struct stat *st, char *err, size_t errlen);

/* Removes the socket file at path if it is still the one st describes (a later daemon may
 * already have replaced it). */
void sock_unix_unlink(const char *path, const struct stat *st);

/* mkdir -p: creates dir with mode `mode` and its missing parents with mode 0755. Returns 1
 * when this call created dir itself, 0 when it existed as a directory, -1 + err. */
int sock_mkdir_p(const char *dir, mode_t mode, char *err, size_t errlen);

/* The integer value of net.ipv4.NAME in this network namespace, -1 when unreadable. */
int sock_sysctl_ipv4(const char *name);

#endif
