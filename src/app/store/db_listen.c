/*
 * db_listen: LISTEN/NOTIFY on a connection of its own (see db_listen.h).
 */
#include "app/store/db_listen.h"

#include <errno.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/store/db.h"
#include "common/mem.h"

struct mt_db_listener {
    char *location;
    char **channels;
    size_t nchannels;
    PGconn *conn;
};

static void message(char *err, size_t errlen, const char *what, PGconn *conn)
{
    snprintf(err, errlen, "%s: %s", what, conn ? PQerrorMessage(conn) : "out of memory");
    size_t n = strlen(err);
    while (n > 0 && (err[n - 1] == '\n' || err[n - 1] == ' '))
        err[--n] = '\0';
}

int mt_db_listener_reconnect(mt_db_listener_t *l, char *err, size_t errlen)
{
    PQfinish(l->conn);
    static const char *const keys[] = {"connect_timeout", "application_name", "keepalives_idle",
                                       "keepalives_interval", "keepalives_count", "dbname", NULL};
    const char *values[] = {"5", "muleteer-listen", "5", "2", "3", l->location, NULL};
    l->conn = PQconnectdbParams(keys, values, 1);
    if (PQstatus(l->conn) != CONNECTION_OK) {
        message(err, errlen, "cannot connect to listen for jobs", l->conn);
        PQfinish(l->conn);
        l->conn = NULL;
        return -ENOTCONN;
    }
    for (size_t i = 0; i < l->nchannels; i++) {
        char *ident = PQescapeIdentifier(l->conn, l->channels[i], strlen(l->channels[i]));
        char *sql = mt_asprintf("LISTEN %s", ident ? ident : "\"\"");
        PQfreemem(ident);
        PGresult *res = PQexec(l->conn, sql);
        free(sql);
        bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
        PQclear(res);
        if (!ok) {
            message(err, errlen, "cannot listen for jobs", l->conn);
            PQfinish(l->conn);
            l->conn = NULL;
            return -ENOTCONN;
        }
    }
    if (PQsetnonblocking(l->conn, 1) < 0) {
        message(err, errlen, "cannot listen for jobs", l->conn);
        PQfinish(l->conn);
        l->conn = NULL;
        return -ENOTCONN;
    }
    return 0;
}

int mt_db_listener_open(const char *location, const char *const *channels, size_t nchannels,
                        mt_db_listener_t **out, char *err, size_t errlen)
{
    *out = NULL;
    if (mt_db_kind_of(location) != MT_DB_POSTGRESQL) {
        snprintf(err, errlen, "SQLite has no notifications");
        return -ENOTSUP;
    }
    mt_db_listener_t *l = mt_calloc(1, sizeof *l);
    l->location = mt_strdup(location);
    l->channels = mt_calloc(nchannels ? nchannels : 1, sizeof *l->channels);
    for (size_t i = 0; i < nchannels; i++)
        l->channels[l->nchannels++] = mt_strndup(channels[i], strnlen(channels[i], 63)); /* PostgreSQL's NAMEDATALEN - 1 */
    *out = l;
    return mt_db_listener_reconnect(l, err, errlen);
}

int mt_db_listener_fd(const mt_db_listener_t *l)
{
    return l->conn ? PQsocket(l->conn) : -1;
}

int mt_db_listener_read(mt_db_listener_t *l, void (*cb)(const char *channel, const char *payload, void *data),
                        void *data)
{
    if (!l->conn || !PQconsumeInput(l->conn) || PQstatus(l->conn) != CONNECTION_OK)
        return -ENOTCONN;
    int n = 0;
    PGnotify *note;
    while ((note = PQnotifies(l->conn)) != NULL) {
        cb(note->relname, note->extra ? note->extra : "", data);
        PQfreemem(note);
        n++;
    }
    return n;
}

void mt_db_listener_close(mt_db_listener_t *l)
{
    if (!l)
        return;
    PQfinish(l->conn);
    for (size_t i = 0; i < l->nchannels; i++)
        free(l->channels[i]);
    free(l->channels);
    free(l->location);
    free(l);
}
