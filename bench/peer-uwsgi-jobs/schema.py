"""The peer's job table, and the database settings every process of the peer opens it with.

Run once by run.sh before uWSGI starts (so that no two processes race to
create it); imported by the web workers and the mules for connect().
The durability is muleteer's accept-sync=normal: WAL, synchronous=NORMAL.
"""
import os
import sqlite3

DB = os.environ.get("PEER_DB", "")

COLUMNS = ("id", "tool_id", "state", "handler", "create_time", "claim_time", "start_time", "end_time", "exit_code")


def connect():
    """A connection in autocommit mode: every statement is its own transaction."""
    if not DB:
        raise SystemExit("peer: PEER_DB names no database (run the peer with run.sh)")
    c = sqlite3.connect(DB, timeout=30, isolation_level=None)
    c.execute("PRAGMA synchronous=NORMAL")
    return c


def create():
    c = connect()
    c.execute("PRAGMA journal_mode=WAL")  # persistent: recorded in the database file
    c.execute("""CREATE TABLE IF NOT EXISTS job (
                   id INTEGER PRIMARY KEY,
                   tool_id TEXT NOT NULL,
                   state TEXT NOT NULL,          -- new, queued, running, ok, error
                   handler TEXT,                 -- NULL until a mule claims the job
                   create_time REAL NOT NULL,    -- seconds since the epoch
                   claim_time REAL,
                   start_time REAL,
                   end_time REAL,
                   exit_code INTEGER)""")
    c.close()


if __name__ == "__main__":
    create()
