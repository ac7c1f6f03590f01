/*
 * schema_sqlite: the SQLite schema, as the migrations that build it (see
 * db_backend.h). Migration N (1-based) takes a database from version N-1
 * to N; the version is PRAGMA user_version, which lives in the database
 * header, so reading it needs no table and a half-created schema cannot
 * claim a version (each migration sets it inside its own transaction).
 *
 * Job state history was written by triggers (versions 1 to 10): every
 * INSERT into job and every UPDATE that changes a job's state or handler
 * added its history row inside the same statement, hence the same
 * transaction. Since version 11 the statements append the event to the
 * job's own row, and a trigger refuses a change that does not (see there).
 * Either way the hot writes (insert, claim, claim-next) stay one autocommit
 * statement each, and no future writer can forget the history.
 *
 * Append only: a released migration never changes. A new version is added
 * here and in schema_pg.c together.
 */
#include "app/store/db_backend.h"

const char *const mt_schema_sqlite[MT_DB_SCHEMA_VERSION] = {
    /* 1: jobs and their state history. Times are microseconds since the epoch. */
    "CREATE TABLE job ("
    "  id INTEGER PRIMARY KEY,"
    "  tool_id TEXT NOT NULL,"
    "  tool_version TEXT,"
    "  params TEXT NOT NULL DEFAULT '{}',"
    "  state TEXT NOT NULL CHECK (state IN"
    "    ('new','queued','running','ok','error','deleting','deleted')),"
    "  handler TEXT,"
    "  destination TEXT,"
    "  create_time INTEGER NOT NULL,"
    "  update_time INTEGER NOT NULL,"
    "  claim_time INTEGER,"
    "  start_time INTEGER,"
    "  end_time INTEGER,"
    "  exit_code INTEGER,"
    "  runner TEXT,"
    "  external_id TEXT,"
    "  working_dir TEXT,"
    "  info TEXT"
    ");"
    /* Both in rowid order within a key, so a page of 'handler = ?' or
     * 'state = ?' ORDER BY id DESC reads only that page. Unassigned jobs
     * stay out of the handler index ('handler = ?' implies NOT NULL, so
     * the planner still uses it): one page less to write per submission. */
    "CREATE INDEX job_handler ON job (handler) WHERE handler IS NOT NULL;"
    "CREATE INDEX job_state ON job (state);"
    /* Jobs waiting for a claim. Also limited to state 'new', or jobs
     * cancelled before any claim would stay in it for ever. The rowid is
     * implicit, so 'destination = ? ORDER BY id' is one index seek. */
    "CREATE INDEX job_unassigned ON job (destination)"
    "  WHERE handler IS NULL AND state = 'new';"
    "CREATE TABLE job_state_history ("
    "  job_id INTEGER NOT NULL,"
    "  state TEXT NOT NULL,"
    "  time INTEGER NOT NULL,"
    "  handler TEXT,"
    "  info TEXT"
    ");"
    "CREATE INDEX job_state_history_job ON job_state_history (job_id);"
    "CREATE TRIGGER job_history_insert AFTER INSERT ON job BEGIN"
    "  INSERT INTO job_state_history (job_id, state, time, handler, info)"
    "  VALUES (new.id, new.state, new.update_time, new.handler, new.info);"
    "END;"
    "CREATE TRIGGER job_history_update AFTER UPDATE OF state, handler ON job"
    "  WHEN new.state IS NOT old.state OR new.handler IS NOT old.handler BEGIN"
    "  INSERT INTO job_state_history (job_id, state, time, handler, info)"
    "  VALUES (new.id, new.state, new.update_time, new.handler,"
    "          CASE WHEN new.info IS NOT old.info THEN new.info END);"
    "END;"
    /* The store's UPDATEs already exclude terminal jobs in their WHERE
     * clause; this catches any other writer. */
    "CREATE TRIGGER job_terminal_guard BEFORE UPDATE OF state ON job"
    "  WHEN old.state IN ('ok','error','deleted') AND new.state IS NOT old.state BEGIN"
    "  SELECT RAISE(ABORT, 'a job in a terminal state never changes state');"
    "END;",
    /* 2: workflows created through the API (those in the workflows directory are files). */
    "CREATE TABLE workflow ("
    "  id TEXT PRIMARY KEY,"
    "  definition TEXT NOT NULL,"
    "  create_time INTEGER NOT NULL"
    ");",
    /* 3: workflow invocations, their steps, and the step a job was created for. */
    "CREATE TABLE invocation ("
    "  id INTEGER PRIMARY KEY,"
    "  workflow_id TEXT NOT NULL,"
    "  definition TEXT NOT NULL," /* the workflow as invoked (JSON): later edits do not change a run */
    "  inputs TEXT NOT NULL,"
    "  state TEXT NOT NULL CHECK (state IN ('new','scheduling','ok','failed','cancelled')),"
    "  handler TEXT,"
    "  destination TEXT,"
    "  create_time INTEGER NOT NULL,"
    "  update_time INTEGER NOT NULL,"
    "  claim_time INTEGER,"
    "  end_time INTEGER,"
    "  info TEXT"
    ");"
    "CREATE INDEX invocation_handler ON invocation (handler, state) WHERE handler IS NOT NULL;"
    "CREATE INDEX invocation_unassigned ON invocation (destination) WHERE handler IS NULL AND state = 'new';"
    "CREATE TABLE invocation_step ("
    "  invocation_id INTEGER NOT NULL,"
    "  step_index INTEGER NOT NULL," /* in the workflow's dependency order */
    "  step_id TEXT NOT NULL,"
    "  state TEXT NOT NULL CHECK (state IN ('waiting','running','ok','failed','not_run','cancelled')),"
    "  job_id INTEGER,"
    "  info TEXT,"
    "  PRIMARY KEY (invocation_id, step_index)"
    ") WITHOUT ROWID;"
    "ALTER TABLE job ADD COLUMN invocation_id INTEGER;"
    "CREATE INDEX job_invocation ON job (invocation_id) WHERE invocation_id IS NOT NULL;",
    /* 4: the user who owns a job or an invocation (its API key's); NULL when created with the API open.
     * A user's list is 'user = ? ORDER BY id DESC': the index's implicit rowid gives that order. */
    "ALTER TABLE job ADD COLUMN user TEXT;"
    "CREATE INDEX job_user ON job (user) WHERE user IS NOT NULL;"
    "ALTER TABLE invocation ADD COLUMN user TEXT;"
    "CREATE INDEX invocation_user ON invocation (user) WHERE user IS NOT NULL;",
    /* 5: a handler's jobs by state. Every poll asks for its jobs in 'new' or 'deleting'; on the
     * handler-only index that walked every job the handler ever ran (half a second per poll with
     * 500,000 finished jobs). The pair finds them directly, and still serves 'handler = ?' alone. */
    "DROP INDEX job_handler;"
    "CREATE INDEX job_handler_state ON job (handler, state) WHERE handler IS NOT NULL;",
    /* 6: the number of jobs, kept by triggers, so that the unfiltered list's total does not count
     * every row (7.6 ms with 1,000,000 jobs). One row; a job insert updates it in the same page. */
    "CREATE TABLE job_count (n INTEGER NOT NULL);"
    "INSERT INTO job_count SELECT count(*) FROM job;"
    "CREATE TRIGGER job_count_insert AFTER INSERT ON job BEGIN UPDATE job_count SET n = n + 1; END;"
    "CREATE TRIGGER job_count_delete AFTER DELETE ON job BEGIN UPDATE job_count SET n = n - 1; END;",
    /* 7: Galaxy's words. The pool an unassigned job or invocation waits in is its 'queue' (a farm
     * name, or the pool handlers claim from: skip-locked's old 'db' is the default pool);
     * 'destination' is now the job configuration's destination, where the job runs. */
    "ALTER TABLE job RENAME COLUMN destination TO queue;"
    "ALTER TABLE invocation RENAME COLUMN destination TO queue;"
    "UPDATE job SET queue = 'job-handlers' WHERE queue = 'db';"
    "UPDATE invocation SET queue = 'job-handlers' WHERE queue = 'db';"
    "ALTER TABLE job ADD COLUMN destination TEXT;",
    /* 8: a job's attempt: 1 for its first run; a run lost with its handler's host (the command died
     * unfinished) is run again as the next attempt, up to jobs.max-attempts. */
    "ALTER TABLE job ADD COLUMN attempt INTEGER NOT NULL DEFAULT 1;",
    /* 9: handlers registered and leased (handler_store.c): a row per server name, the lease renewed by
     * heartbeat, the epoch bumped whenever the name is taken; and on a job, the epoch of the handler
     * that holds it, which every state write of that handler must match (fencing). */
    "CREATE TABLE handler ("
    "  name TEXT PRIMARY KEY,"
    "  host TEXT NOT NULL,"
    "  pid INTEGER NOT NULL,"
    "  pools TEXT NOT NULL," /* ",pool1,pool2,": a pool is found with LIKE '%,' || pool || ',%' */
    "  state TEXT NOT NULL CHECK (state IN ('running','stopped','lost')),"
    "  epoch INTEGER NOT NULL,"
    "  start_time INTEGER NOT NULL,"
    "  renew_time INTEGER NOT NULL,"
    "  lease_until INTEGER NOT NULL"
    ");"
    "ALTER TABLE job ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0;",
    /* 10: the dashboard's job filters. 'tool_id = ? ORDER BY id DESC' reads one page through the
     * index's implicit rowid (a scan of every job to find a rare tool's otherwise), and so does
     * 'tool_id = ? AND state = ?' through the pair (on job_tool alone, 70 ms to find the failed
     * jobs of one tool among 1,000,000); a created_before range is counted, and the id scan
     * bounded, from the create_time index (job_store.c). */
    "CREATE INDEX job_tool ON job (tool_id);"
    "CREATE INDEX job_tool_state ON job (tool_id, state);"
    "CREATE INDEX job_create ON job (create_time);",
    /* 11: fewer pages written per state change (measured with a job's four writes -- insert, claim,
     * running, ok -- at 28.5 WAL frames of 4 KiB, 17.4 after this). A job's state history moves into
     * the job's own row, as JSON arrays [state, time, handler, info] joined by commas: appending one is
     * a write of the page the state change writes anyway, where the history table and its job_id
     * index were two more B-trees per change. The statements that change a job's state or handler
     * append the event themselves (job_store.c says why not a trigger), and job_history_guard refuses
     * an UPDATE that changes either without growing the history. A job inserted by hand with no
     * history has no events. The view job_state_history reads the events as rows (seq is the event's
     * place, from 1), so SQL written against the old table keeps working.
     * job_tool_state holds ended jobs only: a live job left and entered it at every change, while the
     * live states are few enough to be found through job_state (job_store.c names the index's
     * condition in a filter of ended states, so that the planner may use it). Its condition is
     * spelled with ORs: SQLite evaluates an IN list of three or more in a temporary B-tree, and with
     * such an index condition it set one up (a page cache allocated and freed) for every UPDATE of
     * a job's state. */
    "ALTER TABLE job ADD COLUMN history TEXT;"
    "UPDATE job SET history = (SELECT group_concat(e, ',') FROM (SELECT json_array(state, time, handler, info) AS e"
    "  FROM job_state_history h WHERE h.job_id = job.id ORDER BY h.rowid));"
    "DROP TRIGGER job_history_insert;"
    "DROP TRIGGER job_history_update;"
    "DROP TABLE job_state_history;"
    "CREATE TRIGGER job_history_guard BEFORE UPDATE OF state, handler ON job"
    "  WHEN (new.state IS NOT old.state OR new.handler IS NOT old.handler) AND new.history IS old.history BEGIN"
    "  SELECT RAISE(ABORT, 'a change of a job''s state or handler appends its event to job.history');"
    "END;"
    "CREATE VIEW job_state_history AS SELECT job.id AS job_id, e.key + 1 AS seq, e.value ->> 0 AS state,"
    "  e.value ->> 1 AS time, e.value ->> 2 AS handler, e.value ->> 3 AS info"
    "  FROM job, json_each('[' || job.history || ']') e;"
    "DROP INDEX job_tool_state;"
    "CREATE INDEX job_tool_state ON job (tool_id, state) WHERE (state = 'ok' OR state = 'error' OR state = 'deleted');",
};
