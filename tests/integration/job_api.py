"""The job API as the integration tests use it: submit a job, read it, wait for its end, read its history.

Each helper takes a running Server (conftest.py) and asserts the HTTP status it expects, so a test
that calls them fails at the request that went wrong, with the server's answer in the message.
"""
import json

from conftest import wait_for

TERMINAL = ("ok", "error", "deleted")


def post_job(s, tool_id, inputs=None, timeout=30):
    """POST /api/jobs for tool_id (with inputs, if any); the new job's id (asserts 201)."""
    body = {"tool_id": tool_id}
    if inputs:
        body["inputs"] = inputs
    status, _, data = s.request("POST", "/api/jobs", body=json.dumps(body),
                                headers={"Content-Type": "application/json"}, timeout=timeout)
    assert status == 201, data
    return json.loads(data)["id"]


def job_doc(s, jid):
    """GET /api/jobs/ID as a dict (asserts 200)."""
    status, doc = s.get_json("/api/jobs/%s" % jid)
    assert status == 200, doc
    return doc


def wait_job_end(s, jid, timeout=30):
    """Wait until job jid is in a terminal state; its document then. Fails with the log's tail after timeout."""
    return wait_for(lambda: (lambda j: j if j["state"] in TERMINAL else None)(job_doc(s, jid)), timeout,
                    what="job %s to end\n%s" % (jid, s.log()[-3000:]))


def job_history(s, jid):
    """GET /api/jobs/ID/history: the list of history rows (asserts 200)."""
    status, doc = s.get_json("/api/jobs/%s/history" % jid)
    assert status == 200, doc
    return doc["history"]
