/*
 * fd_passing: a message and its descriptors on a Unix socket (see
 * fd_passing.h).
 */
#include "common/fd_passing.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef union {
    char buf[CMSG_SPACE(sizeof(int) * MT_FD_PASSING_MAX)];
    struct cmsghdr align;
} control_t;

int mt_fds_send(int sock, const struct iovec *iov, size_t niov, const int *fds, int nfds)
{
    if (nfds < 0 || nfds > MT_FD_PASSING_MAX)
        return -EINVAL;
    control_t control;
    memset(&control, 0, sizeof control);
    struct msghdr msg = {.msg_iov = (struct iovec *)iov, .msg_iovlen = niov};
    if (nfds > 0) {
        msg.msg_control = control.buf;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
    }
    ssize_t n;
    do
        n = sendmsg(sock, &msg, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : 0;
}

long mt_fds_recv(int sock, void *buf, size_t len, int *fds, int maxfds, int *nfds)
{
    control_t control;
    struct iovec iov = {.iov_base = buf, .iov_len = len};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                         .msg_controllen = sizeof control.buf};
    ssize_t n;
    do
        n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    *nfds = 0;
    if (n < 0)
        return -errno; /* msg's control part is not filled in: nothing to read there */
    bool too_many = false;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < k; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
            if (*nfds < maxfds) {
                fds[(*nfds)++] = fd;
            } else {
                close(fd);
                too_many = true;
            }
        }
    }
    if (too_many || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
        for (int i = 0; i < *nfds; i++)
            close(fds[i]);
        *nfds = 0;
        return -EMSGSIZE;
    }
    return (long)n;
}
