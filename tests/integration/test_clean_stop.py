"""A clean stop leaves a clean SQLite database: every change in the database file and no WAL beside it. While the
stack runs, the WAL is cut back to MT_DB_WAL_LIMIT_BYTES (db.h) once a burst of writes is over."""
import concurrent.futures
import json
import os
import threading
import time

import pytest

from conftest import backend_in_use, sqlite_path, wait_for

WAL_LIMIT = 4 * 1024 * 1024  # MT_DB_WAL_LIMIT_BYTES
BURST = 3000

pytestmark = pytest.mark.skipif(backend_in_use() != "sqlite", reason="the WAL is SQLite's")


def post_true(s):
    c = s.conn(30)
    try:
        c.request("POST", "/api/jobs", body=json.dumps({"tool_id": "true"}),
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        r.read()
        return r.status
    finally:
        c.close()


def size(path):
    try:
        return os.path.getsize(path)
    except FileNotFoundError:
        return None


def test_a_clean_stop_leaves_no_wal(servers):
    s = servers(["--mules", "2", "--farm", "job-handlers:1,2"])
    db = sqlite_path(s.args, s.tmp)
    wal = db + "-wal"
    peak = [0]
    done = threading.Event()

    def watch():
        while not done.is_set():
            peak[0] = max(peak[0], size(wal) or 0)
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    with concurrent.futures.ThreadPoolExecutor(16) as ex:
        statuses = list(ex.map(lambda _: post_true(s), range(BURST)))
    assert statuses.count(201) == BURST, {st: statuses.count(st) for st in set(statuses)}
    wait_for(lambda: s.sql("SELECT count(*) FROM job WHERE state NOT IN ('ok', 'error', 'deleted')")[0][0] == 0,
             120, interval=0.5, what="the burst's jobs to end")
    # A few writes once the burst is over: the WAL starts over from its beginning and is cut back to the limit.
    for _ in range(5):
        assert post_true(s) == 201
        time.sleep(0.2)
    wait_for(lambda: s.sql("SELECT count(*) FROM job WHERE state NOT IN ('ok', 'error', 'deleted')")[0][0] == 0,
             30, interval=0.2, what="the last jobs to end")
    wait_for(lambda: (size(wal) or 0) <= WAL_LIMIT, 10, interval=0.2,
             what="the WAL (%s bytes, %d at the peak) to be cut back to %d" % (size(wal), peak[0], WAL_LIMIT))
    done.set()
    watcher.join(2)
    sys_peak = peak[0]

    assert s.stop() == 0
    assert size(wal) in (None, 0), "a clean stop left a WAL of %s bytes (%d at the peak)" % (size(wal), sys_peak)
    assert not os.path.exists(db + "-shm")
    # Everything is in the database file itself.
    assert s.sql("SELECT count(*) FROM job WHERE state = 'ok'")[0][0] == BURST + 5
