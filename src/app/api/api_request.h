/*
 * api_request: the strict reading of what a client sends to the job API
 * (docs/http-api.md, "Strict input") -- the JSON body, the ids in the
 * path and the query parameters -- the same in every route.
 *
 * A request is either read exactly as its contract says or refused with
 * 400 and a message naming what was wrong: a key the contract does not
 * have, a key given twice (in any object of the body), an id that is not
 * canonical decimal, a query parameter that is unknown or repeated. Never
 * a guess: `{"input": ...}` is not taken for `inputs`, "01" is not taken
 * for 1, and the last of two `tool_id`s does not win.
 *
 * Each function answers the request itself when it refuses it; the
 * caller only returns.
 */
#ifndef MT_API_REQUEST_H
#define MT_API_REQUEST_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "muleteer.h"

/*
 * The body of req, a JSON object whose keys are all in `keys` (a
 * NULL-terminated list), parsed with duplicate keys refused at every
 * depth. An empty body is an empty object when empty_ok, else refused.
 * Returns a new reference; or NULL after answering 400: "malformed JSON at
 * line L, column C: ...", "duplicate key 'tool_id' at line 1, column 27 of
 * the body: a key may appear once in an object", "the body must be a JSON
 * object, got an array", "unknown key 'input' in the body (accepted keys:
 * tool_id, inputs)" (every unknown key is named).
 */
json_t *mt_api_body_object(mt_request_t *req, const char *const *keys, bool empty_ok);

/*
 * For a body that another reader parses (a workflow, YAML or JSON): if it
 * has a key twice in one object (JSON) or mapping (YAML), answer 400
 * naming the key and where it is -- "duplicate key 'id' at line 3 of the
 * body: a key may appear once in a mapping" -- and return -EINVAL;
 * otherwise (no duplicate, or a body that is neither, which its reader
 * will refuse) return 0 and answer nothing.
 */
int mt_api_refuse_duplicate_keys(mt_request_t *req);

/*
 * The id that starts `text` (a path segment: up to the next '/' or the
 * end), read by mt_value_parse_id; *rest (if not NULL) is set to the '/'
 * after it or to the end. Returns 0 and sets *id; or -EINVAL after
 * answering 400 "'01' is not a job id: ids are decimal numbers without
 * leading zeros" (`what` names the kind: "job", "invocation").
 */
int mt_api_path_id(mt_request_t *req, const char *text, const char *what, int64_t *id, const char **rest);

/*
 * Check req's query string: every parameter is one of `names` (a
 * NULL-terminated list; NULL for none) or "key" (the API key, read by the
 * stack), and none is given twice. Names are compared percent-decoded, as
 * mt_request_query_param reads them. Returns 0; or -EINVAL after
 * answering 400 "unknown query parameter 'sate' (accepted: state, ...)" or
 * "query parameter 'state' is given twice".
 */
int mt_api_check_query(mt_request_t *req, const char *const *names);

/*
 * The flags every route of the job API that touches the database is
 * registered with (besides MT_ROUTE_PREFIX): where its handler runs. On
 * PostgreSQL every request leaves the web thread's loop (MT_ROUTE_OFFLOAD):
 * any query may wait on the network, the server or a lock. On SQLite only
 * the requests that may write do (MT_ROUTE_OFFLOAD_WRITES): in WAL mode a
 * read never waits for the write lock, and on the loop it costs what it
 * always did, where a trip to a route thread would cost two thread
 * wake-ups. After load (the database is known).
 */
int mt_api_route_flags(void);

#endif
