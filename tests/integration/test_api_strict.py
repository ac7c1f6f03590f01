"""The job API reads requests strictly (docs/http-api.md, "Strict input"): unknown keys, duplicate keys,
ids that are not canonical decimal and unknown query parameters are refused with 400 naming them, and
a refused POST stores nothing."""
import json

import pytest

from conftest import wait_for

INT64_MAX = "9223372036854775807"
INT64_MAX_PLUS_1 = "9223372036854775808"

# Ids that are not canonical decimal, as they appear in a URL, and the part of the reason each gets.
BAD_PATH_IDS = [
    ("0", "from 1 up"),
    ("-1", "without sign"),
    ("+1", "without sign"),
    ("01", "without leading zeros"),
    ("007", "without leading zeros"),
    ("%201", "blank"),
    ("1%20", "blank"),
    ("%091", "blank"),
    ("0x1f", "digits only"),
    ("1e3", "digits only"),
    ("1.0", "digits only"),
    ("abc", "digits only"),
    (INT64_MAX_PLUS_1, "at most " + INT64_MAX),
    ("99999999999999999999", "at most " + INT64_MAX),
    ("18446744073709551617", "at most " + INT64_MAX),
]

# The same, as a data input's "job" in a body.
BAD_BODY_IDS = [
    (" 1", "blank"),
    ("1 ", "blank"),
    ("+1", "without sign"),
    ("-1", "without sign"),
    ("01", "without leading zeros"),
    ("0", "from 1 up"),
    ("", "empty"),
    ("0x1", "digits only"),
    ("1.0", "digits only"),
    (INT64_MAX_PLUS_1, "at most " + INT64_MAX),
    ("99999999999999999999", "at most " + INT64_MAX),
]

JSON = {"Content-Type": "application/json"}


def call(s, method, path, body=None):
    if body is not None and not isinstance(body, (bytes, str)):
        body = json.dumps(body)
    status, _, data = s.request(method, path, body=body, headers=JSON if body is not None else None)
    try:
        return status, json.loads(data) if data else None
    except ValueError:
        return status, data


def refused(s, method, path, body, status, *needles):
    """The request is answered `status` with an err_msg holding every needle; returns the message."""
    got, doc = call(s, method, path, body)
    assert got == status, (method, path, body, got, doc)
    assert isinstance(doc, dict) and doc["err_code"] == status, doc
    for needle in needles:
        assert needle in doc["err_msg"], (method, path, body, needle, doc["err_msg"])
    return doc["err_msg"]


def job_total(s):
    status, doc = s.get_json("/api/jobs?limit=1")
    assert status == 200, doc
    return doc["total"]


def invocation_total(s):
    status, doc = s.get_json("/api/invocations?limit=1")
    assert status == 200, doc
    return doc["total"]


def ok_job(s):
    """A finished echo job: its id, for data inputs and the id routes."""
    status, job = call(s, "POST", "/api/jobs", {"tool_id": "echo", "inputs": {"text": "strict"}})
    assert status == 201, job
    wait_for(lambda: s.get_json("/api/jobs/%s" % job["id"])[1]["state"] == "ok", 20, what="the echo job to end ok")
    return job["id"]


COUNT_WORKFLOW = {
    "id": "count", "name": "Count a job's lines",
    "inputs": [{"name": "data", "type": "data"}, {"name": "label", "type": "text", "default": "n"}],
    "steps": [{"id": "a", "tool": "wc", "inputs": {"input": {"input": "data"}}}],
}


@pytest.fixture
def server(servers):
    return servers([])


def test_the_issues_examples_are_refused_and_create_nothing(server):
    s = server
    before = job_total(s)
    # `input` for `inputs`: was 201 with the default text
    msg = refused(s, "POST", "/api/jobs", '{"tool_id":"echo","input":{"text":"x"}}', 400, "unknown key 'input'")
    assert "accepted keys: tool_id, inputs" in msg, msg
    # a key twice: the last one won
    refused(s, "POST", "/api/jobs", '{"tool_id":"nope","tool_id":"true"}', 400, "duplicate key 'tool_id'",
            "line 1, column")
    # data job ids stored as given
    jid = ok_job(s)
    before = job_total(s)
    for given in (" " + jid, "+" + jid, "0" + jid):
        refused(s, "POST", "/api/jobs", {"tool_id": "wc", "inputs": {"input": {"job": given, "output": "out"}}}, 400,
                "input 'input'", "'%s' is not a job id" % given)
    # clamped to INT64_MAX
    msg = refused(s, "GET", "/api/jobs/99999999999999999999", None, 400,
                  "'99999999999999999999' is not a job id", "at most " + INT64_MAX)
    assert job_total(s) == before


def test_unknown_keys_are_named_every_one_with_the_accepted_ones(server):
    s = server
    before = job_total(s)
    msg = refused(s, "POST", "/api/jobs", {"tool_id": "true", "inputs": {}, "priority": 1, "handler": "x"}, 400,
                  "unknown keys 'priority', 'handler'", "accepted keys: tool_id, inputs")
    refused(s, "POST", "/api/jobs", {"tool_id": "true", "inputs": {}, "a\nb": 1}, 400, "unknown key 'a\\nb'")
    refused(s, "POST", "/api/jobs", {"tool": "true"}, 400, "unknown key 'tool'")
    refused(s, "POST", "/api/jobs", {"inputs": {}}, 400, "'tool_id' must be a string", "missing")
    refused(s, "POST", "/api/jobs", {"tool_id": 7}, 400, "'tool_id' must be a string", "got an integer")
    refused(s, "POST", "/api/jobs", {"tool_id": "true", "inputs": [1]}, 400, "'inputs' must be an object",
            "got an array")
    refused(s, "POST", "/api/jobs", [{"tool_id": "true"}], 400, "must be a JSON object", "got an array")
    refused(s, "POST", "/api/jobs", "", 400, "must be a JSON object", "empty")
    # the nested objects fixed by contract: a tool's inputs, a data input's keys
    refused(s, "POST", "/api/jobs", {"tool_id": "echo", "inputs": {"txt": "x"}}, 400, "unknown input 'txt'",
            "tool 'echo' has inputs text")
    jid = ok_job(s)
    before = job_total(s)
    refused(s, "POST", "/api/jobs",
            {"tool_id": "wc", "inputs": {"input": {"job": jid, "output": "out", "path": "/etc/passwd"}}}, 400,
            "input 'input': unknown key 'path'")
    assert job_total(s) == before
    # the same body without the stray key is taken, and runs as written
    status, job = call(s, "POST", "/api/jobs", {"tool_id": "echo", "inputs": {"text": "as written"}})
    assert status == 201 and job["params"] == {"text": "as written"}, job
    assert job_total(s) == before + 1


def test_duplicate_keys_are_refused_at_every_depth(server):
    s = server
    jid = ok_job(s)
    before = job_total(s)
    cases = [
        ('{"tool_id": "echo", "inputs": {"text": "a", "text": "b"}}', "text"),
        ('{"tool_id": "echo", "inputs": {"text": "a"}, "inputs": {"text": "b"}}', "inputs"),
        ('{"tool_id": "wc", "inputs": {"input": {"job": "%s", "output": "out", "job": "%s"}}}' % (jid, jid), "job"),
        ('{"tool_id": "wc", "inputs": {"input": {"job": "%s", "output": "out", "output": "x"}}}' % jid, "output"),
        ('{"tool_id": "echo", "inputs": {"t\\u0065xt": "a", "text": "b"}}', "text"),  # the same key, escaped
        ('{"tool_id": "echo", "inputs": {"text": "a", "tex\\nt": 1, "tex\\nt": 2}}', "tex\\nt"),
    ]
    for body, key in cases:
        refused(s, "POST", "/api/jobs", body, 400, "duplicate key '%s'" % key, "a key may appear once")
    assert job_total(s) == before


def test_ids_in_every_route_are_canonical_or_refused(server):
    s = server
    jid = ok_job(s)
    job_routes = ["/api/jobs/%s", "/api/jobs/%s/history", "/api/jobs/%s/stdout", "/api/jobs/%s/stderr",
                  "/api/jobs/%s/outputs", "/api/jobs/%s/outputs/out"]
    for route in job_routes:
        assert s.request("GET", route % jid)[0] == 200, route
        for bad, why in BAD_PATH_IDS:
            refused(s, "GET", route % bad, None, 400, "'%s' is not a job id" % bad, why)
        # well formed, no such job: 404 naming it as given, never clamped
        refused(s, "GET", route % INT64_MAX, None, 404, "no such job " + INT64_MAX)
        refused(s, "GET", route % "424242", None, 404, "no such job 424242")
    refused(s, "GET", "/api/jobs//history", None, 400, "'' is not a job id", "empty")
    for bad, why in BAD_PATH_IDS:
        refused(s, "DELETE", "/api/jobs/%s" % bad, None, 400, "'%s' is not a job id" % bad, why)
        refused(s, "GET", "/api/invocations/%s" % bad, None, 400, "'%s' is not an invocation id" % bad, why)
        refused(s, "DELETE", "/api/invocations/%s" % bad, None, 400, "'%s' is not an invocation id" % bad, why)
    refused(s, "DELETE", "/api/jobs/" + INT64_MAX, None, 404, "no such job " + INT64_MAX)
    refused(s, "GET", "/api/invocations/" + INT64_MAX, None, 404, "no such invocation " + INT64_MAX)
    refused(s, "DELETE", "/api/invocations/" + INT64_MAX, None, 404, "no such invocation " + INT64_MAX)
    refused(s, "GET", "/api/invocations//", None, 400, "'' is not an invocation id")
    # the job refused under every spelling is still there, untouched
    status, job = s.get_json("/api/jobs/%s" % jid)
    assert status == 200 and job["state"] == "ok", job


def test_data_input_ids_are_canonical_in_jobs_and_invocations(server):
    s = server
    jid = ok_job(s)
    status, wf = call(s, "POST", "/api/workflows", COUNT_WORKFLOW)
    assert status == 201, wf
    jobs_before, invs_before = job_total(s), invocation_total(s)
    for bad, why in BAD_BODY_IDS:
        data = {"job": bad, "output": "out"}
        refused(s, "POST", "/api/jobs", {"tool_id": "wc", "inputs": {"input": data}}, 400,
                "input 'input': '%s' is not a job id" % bad, why)
        refused(s, "POST", "/api/workflows/count/invocations", {"inputs": {"data": data}}, 400,
                "input 'data': '%s' is not a job id" % bad, why)
    # as JSON numbers: 0 and negatives refused, a number beyond int64 is not JSON this server reads
    for number, needle in ((0, "'0' is not a job id"), (-3, "'-3' is not a job id")):
        refused(s, "POST", "/api/jobs", {"tool_id": "wc", "inputs": {"input": {"job": number, "output": "out"}}},
                400, needle)
        refused(s, "POST", "/api/workflows/count/invocations", {"inputs": {"data": {"job": number, "output": "out"}}},
                400, needle)
    refused(s, "POST", "/api/jobs", '{"tool_id": "wc", "inputs": {"input": {"job": 99999999999999999999, '
            '"output": "out"}}}', 400, "malformed JSON", "99999999999999999999")
    # well formed and missing: named as given (400: a body's reference, not a resource of the URL)
    refused(s, "POST", "/api/jobs", {"tool_id": "wc", "inputs": {"input": {"job": INT64_MAX, "output": "out"}}},
            400, "input 'input': job %s does not exist" % INT64_MAX)
    refused(s, "POST", "/api/workflows/count/invocations", {"inputs": {"data": {"job": INT64_MAX, "output": "out"}}},
            400, "input 'data': job %s does not exist" % INT64_MAX)
    assert (job_total(s), invocation_total(s)) == (jobs_before, invs_before)
    # the canonical spelling, as a string or a number, is taken and stored canonical
    status, job = call(s, "POST", "/api/jobs", {"tool_id": "wc", "inputs": {"input": {"job": int(jid), "output": "out"}}})
    assert status == 201 and job["params"]["input"]["job"] == jid, job
    assert job_total(s) == jobs_before + 1
    status, inv = call(s, "POST", "/api/workflows/count/invocations", {"inputs": {"data": {"job": jid, "output": "out"}}})
    assert status == 201 and inv["inputs"]["data"]["job"] == jid, inv
    assert invocation_total(s) == invs_before + 1


def test_invocation_bodies_are_strict(server):
    s = server
    jid = ok_job(s)
    status, wf = call(s, "POST", "/api/workflows", COUNT_WORKFLOW)
    assert status == 201, wf
    before = invocation_total(s)
    data = {"job": jid, "output": "out"}
    refused(s, "POST", "/api/workflows/count/invocations", {"input": {"data": data}}, 400,
            "unknown key 'input'", "accepted keys: inputs")
    refused(s, "POST", "/api/workflows/count/invocations", {"inputs": {"data": data}, "history": "x"}, 400,
            "unknown key 'history'")
    refused(s, "POST", "/api/workflows/count/invocations", {"inputs": {"data": data, "dta": data}}, 400,
            "unknown input 'dta'", "workflow 'count' has inputs data, label")
    refused(s, "POST", "/api/workflows/count/invocations", {"inputs": {"data": dict(data, path="/etc/passwd")}}, 400,
            "input 'data': unknown key 'path'")
    refused(s, "POST", "/api/workflows/count/invocations", '{"inputs": {"data": %s, "data": %s}}'
            % (json.dumps(data), json.dumps(data)), 400, "duplicate key 'data'")
    refused(s, "POST", "/api/workflows/count/invocations", '{"inputs": {"data": {"job": "%s", "output": "out", '
            '"output": "out"}}}' % jid, 400, "duplicate key 'output'")
    refused(s, "POST", "/api/workflows/count/invocations", {"inputs": 3}, 400, "'inputs' must be an object")
    assert invocation_total(s) == before


def test_posted_workflows_refuse_duplicate_and_unknown_keys(server):
    s = server
    body = '{"id": "one", "id": "two", "name": "n", "steps": [{"id": "a", "tool": "true", "inputs": {}}]}'
    refused(s, "POST", "/api/workflows", body, 400, "duplicate key 'id'")
    body = '{"id": "one", "name": "n", "steps": [{"id": "a", "tool": "true", "inputs": {}, "tool": "echo"}]}'
    refused(s, "POST", "/api/workflows", body, 400, "duplicate key 'tool'")
    refused(s, "POST", "/api/workflows", {"id": "one", "name": "n", "stepz": [], "steps": []}, 400,
            "unknown key 'stepz'")
    # a YAML body's duplicates are named too, with their line, at any depth
    refused(s, "POST", "/api/workflows", "id: one\nname: n\nid: two\nsteps: []\n", 400,
            "duplicate key 'id' at line 3")
    refused(s, "POST", "/api/workflows", "id: one\nname: n\nsteps:\n  - id: a\n    tool: 'true'\n    inputs: {}\n"
            "    tool: echo\n", 400, "duplicate key 'tool' at line 7")
    refused(s, "POST", "/api/workflows", "id: one\nname: n\nsteps:\n  - id: a\n    tool: 'true'\n"
            "    inputs: {x: 1, \"x\": 2}\n", 400, "duplicate key 'x' at line 6")
    status, doc = s.get_json("/api/workflows")
    assert status == 200 and "one" not in [w["id"] for w in doc["workflows"]], doc
    assert s.request("GET", "/api/workflows/one")[0] == 404


def test_query_parameters_are_known_and_given_once(server):
    s = server
    ok_job(s)
    msg = refused(s, "GET", "/api/jobs?sate=ok", None, 400, "unknown query parameter 'sate'")
    assert "state, tool_id, handler, user, created_after, created_before, before_id, limit, offset" in msg, msg
    refused(s, "GET", "/api/jobs?state=ok&state=error", None, 400, "query parameter 'state' is given twice")
    refused(s, "GET", "/api/jobs?limit=1&limit=1000", None, 400, "'limit' is given twice")
    refused(s, "GET", "/api/invocations?workflow=count", None, 400, "unknown query parameter 'workflow'",
            "workflow_id")
    refused(s, "GET", "/api/jobs/1?verbose=1", None, 400, "unknown query parameter 'verbose'")
    refused(s, "GET", "/api/tools?all=1", None, 400, "unknown query parameter 'all'")
    refused(s, "GET", "/api/workflows?x", None, 400, "unknown query parameter 'x'")
    before = job_total(s)
    refused(s, "POST", "/api/jobs?tool_id=true", {"tool_id": "true"}, 400, "unknown query parameter 'tool_id'")
    assert job_total(s) == before
    # names are read decoded, as the server reads them; the API key's parameter is always allowed
    status, doc = s.get_json("/api/jobs?st%61te=ok&limit=1")
    assert status == 200 and doc["limit"] == 1 and all(j["state"] == "ok" for j in doc["jobs"]), doc
    refused(s, "GET", "/api/jobs?st%61te=ok&state=ok", None, 400, "'state' is given twice")
    status, doc = s.get_json("/api/jobs?key=anything&state=ok")
    assert status == 200, doc
    assert s.get_json("/api/jobs?")[0] == 200


def test_integer_query_parameters_are_canonical(server):
    s = server
    ok_job(s)
    for value in ("+5", "%205", "05", "5%20", "0x5", "", "-0", "1e2"):
        refused(s, "GET", "/api/jobs?limit=%s" % value, None, 400, "query parameter 'limit' must be an integer")
    refused(s, "GET", "/api/jobs?offset=-1", None, 400, "query parameter 'offset' must be an integer from 0")
    for value, want in (("5", 5), ("1000", 1000), ("1", 1)):
        status, doc = s.get_json("/api/jobs?limit=%s" % value)
        assert status == 200 and doc["limit"] == want, doc
    status, doc = s.get_json("/api/jobs?offset=0")
    assert status == 200 and doc["offset"] == 0, doc
