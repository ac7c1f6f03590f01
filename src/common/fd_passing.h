/*
 * fd_passing: one message and the descriptors that travel with it
 * (SCM_RIGHTS) on a Unix socket, both ways. Used by the local runner and
 * the waiter helper (src/app/run/waiter_helper.h), which link it alone:
 * plain libc, no state.
 */
#ifndef MT_FD_PASSING_H
#define MT_FD_PASSING_H

#include <stddef.h>
#include <sys/uio.h>

#define MT_FD_PASSING_MAX 8 /* descriptors in one message, at most */

/*
 * Send iov[0..niov) as one message with fds[0..nfds) (nfds 0..MT_FD_PASSING_MAX;
 * the caller keeps its copies), retried on EINTR, never raising SIGPIPE.
 * Returns 0 or -errno (-EMSGSIZE: too large for one message).
 */
int mt_fds_send(int sock, const struct iovec *iov, size_t niov, const int *fds, int nfds);

/*
 * Receive one message into buf (len bytes), retried on EINTR, and the
 * descriptors that came with it into fds (close-on-exec; *nfds of them).
 * Returns the message's length (0 with *nfds 0: the peer closed its end),
 * or -errno with no descriptor left open; a message that did not fit (more
 * than len bytes, or more than maxfds descriptors) is -EMSGSIZE, what did
 * arrive of it closed.
 */
long mt_fds_recv(int sock, void *buf, size_t len, int *fds, int maxfds, int *nfds);

#endif
