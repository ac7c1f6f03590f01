/*
 * db_listen: notifications from the job database -- PostgreSQL's
 * LISTEN/NOTIFY -- on a connection of their own.
 *
 * The PostgreSQL schema announces at commit a job created for a handler
 * (channel "mth:" NAME, payload the job id), a job waiting in a pool
 * ("mtq:" POOL, the id) and a job being cancelled ("mth:" NAME, "c" and the
 * id); see schema_pg.c. A handler listens on its own channel and its
 * pools', polls the listener's socket on its loop, and takes the job at
 * once: a handler on another host starts a job in about a millisecond
 * rather than at its next poll. Polling stays as the safety net, since a
 * notification is lost while the listening connection is down.
 *
 * SQLite has no notifications: mt_db_listener_open() answers -ENOTSUP
 * (its handlers are woken by messages and their poll).
 *
 * Not thread-safe: a listener belongs to one loop thread.
 */
#ifndef MT_DB_LISTEN_H
#define MT_DB_LISTEN_H

#include <stddef.h>

typedef struct mt_db_listener mt_db_listener_t;

/* Channel names: the schema truncates them to PostgreSQL's 63 bytes, and so does mt_db_listener_open(). */
#define MT_DB_CHANNEL_HANDLER "mth:"
#define MT_DB_CHANNEL_POOL "mtq:"

/*
 * Connect to the database at location and LISTEN on each channel (copied).
 * Returns 0 with *out; -ENOTSUP for a SQLite location; -ENOTCONN (with the
 * reason in err) when the server cannot be reached -- *out is then still
 * set, disconnected: call mt_db_listener_reconnect() later.
 */
int mt_db_listener_open(const char *location, const char *const *channels, size_t nchannels,
                        mt_db_listener_t **out, char *err, size_t errlen);

/* The socket to poll for reading, or -1 while disconnected. */
int mt_db_listener_fd(const mt_db_listener_t *l);

/*
 * Read what the socket holds and call cb for each notification. Returns
 * how many, or -ENOTCONN when the connection broke (reconnect later).
 */
int mt_db_listener_read(mt_db_listener_t *l, void (*cb)(const char *channel, const char *payload, void *data),
                        void *data);

/* Connect again and LISTEN again. 0, or -ENOTCONN with the reason in err. */
int mt_db_listener_reconnect(mt_db_listener_t *l, char *err, size_t errlen);

/* Close. NULL is fine. */
void mt_db_listener_close(mt_db_listener_t *l);

#endif
