"""A job-handler mule of the peer: take the jobs named by farm messages, run them, record their result.

A mule claims a job with a conditional UPDATE (only a job no handler holds
yet), so that a job is run once however many mules hear of it. Like
Galaxy's local runner, each job runs in a working directory of its own,
which holds the command's stdout and stderr. Each state change is its own
transaction: claimed (queued), running, then ok or error.
"""
import os
import shutil
import subprocess
import time

TOOLS = {"true": ["/bin/true"], "sleep": ["/bin/sleep", "0.05"]}


def main():
    import uwsgi

    import schema
    jobs_dir = os.environ.get("PEER_JOBS_DIR") or schema.DB + ".jobs"
    cleanup = os.environ.get("PEER_CLEANUP", "never")
    if cleanup not in ("never", "always", "onsuccess"):
        raise SystemExit("peer mule: PEER_CLEANUP is %r, not never, always or onsuccess" % cleanup)
    os.makedirs(jobs_dir, exist_ok=True)
    me = "main.job-handlers.%d" % uwsgi.mule_id()
    c = schema.connect()
    while True:
        msg = uwsgi.farm_get_msg()
        if not msg or not msg.isdigit():
            continue
        jid = int(msg)
        claimed = c.execute("UPDATE job SET handler = ?, state = 'queued', claim_time = ? "
                            "WHERE id = ? AND handler IS NULL", (me, time.time(), jid)).rowcount
        if claimed != 1:
            continue
        tool = c.execute("SELECT tool_id FROM job WHERE id = ?", (jid,)).fetchone()[0]
        c.execute("UPDATE job SET state = 'running', start_time = ? WHERE id = ?", (time.time(), jid))
        wd = os.path.join(jobs_dir, str(jid))
        os.mkdir(wd)
        with open(os.path.join(wd, "stdout"), "wb") as out, open(os.path.join(wd, "stderr"), "wb") as err:
            rc = subprocess.call(TOOLS[tool], cwd=wd, stdout=out, stderr=err)
        c.execute("UPDATE job SET state = ?, end_time = ?, exit_code = ? WHERE id = ?",
                  ("ok" if rc == 0 else "error", time.time(), rc, jid))
        if cleanup == "always" or (cleanup == "onsuccess" and rc == 0):
            shutil.rmtree(wd, ignore_errors=True)


if __name__ == "__main__":  # uWSGI runs a mule's file as __main__; web.py imports TOOLS only
    main()
