"""API keys end to end: 401/403, the header and query forms, who sees and cancels what, admins, logs, config errors."""
import json
import subprocess
import urllib.parse

from conftest import MULETEER, wait_for, write

ALICE = "alice-key-0123456789abcdef"
BOB = "bob-key-ZYXWVUTSRQ9876543210"
ROOT = "root+key/with=base64chars0123"  # '+' must be sent as %2B in a query
UNKNOWN = "not-a-configured-key-0123456"
KEYS = (ALICE, BOB, ROOT, UNKNOWN)

TERMINAL = ("ok", "error", "deleted")
INV_TERMINAL = ("ok", "failed", "cancelled")


def keys_ini(tmp_path):
    return write(tmp_path, "keys.ini", """\
[muleteer]
api-key = %s:alice
api-key = %s:bob
api-key = %s:root
admin-users = root
""" % (ALICE, BOB, ROOT))


def keyed(servers, tmp_path, args=()):
    s = servers(["--ini", keys_ini(tmp_path), "--set", "jobs.cancel-grace=1"] + list(args), start=False)
    s.api_key = ROOT
    s.start()
    return s


def call(s, method, path, key=None, body=None, query_key=None):
    """One request; key goes in X-API-Key, query_key (percent-encoded) in ?key=. Returns status, headers, JSON."""
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if key is not None:
        headers["X-API-Key"] = key
    if query_key is not None:
        path += ("&" if "?" in path else "?") + "key=" + urllib.parse.quote(query_key, safe="")
    status, hdrs, data = s.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    try:
        doc = json.loads(data)
    except ValueError:
        doc = data
    return status, hdrs, doc


def post_job(s, key, tool_id, inputs=None):
    status, _, doc = call(s, "POST", "/api/jobs", key, {"tool_id": tool_id, "inputs": inputs or {}})
    assert status == 201, doc
    return doc


def wait_job(s, key, jid, states=TERMINAL, timeout=30):
    def reached():
        status, _, doc = call(s, "GET", "/api/jobs/%s" % jid, key)
        assert status == 200, doc
        return doc if doc["state"] in states else None
    return wait_for(reached, timeout, what="job %s to reach %s" % (jid, states))


def invoke(s, key, wf, inputs=None):
    status, _, doc = call(s, "POST", "/api/workflows/%s/invocations" % wf, key, {"inputs": inputs or {}})
    assert status == 201, doc
    return doc


def wait_inv(s, key, iid, states=INV_TERMINAL, timeout=40):
    def reached():
        status, _, doc = call(s, "GET", "/api/invocations/%s" % iid, key)
        assert status == 200, doc
        return doc if doc["state"] in states else None
    return wait_for(reached, timeout, what="invocation %s to reach %s" % (iid, states))


def ids(docs):
    return {d["id"] for d in docs}


def test_no_key_is_401_an_unknown_key_403_and_health_and_static_files_stay_open(servers, tmp_path):
    static = tmp_path / "site"
    static.mkdir()
    (static / "index.html").write_text("hello")
    s = keyed(servers, tmp_path, ["--static-map", "/site=%s" % static])
    for method, path in (("GET", "/api/jobs"), ("POST", "/api/jobs"), ("GET", "/api/stack"), ("GET", "/api/tools"),
                         ("GET", "/api/invocations/1"), ("DELETE", "/api/jobs/1"), ("GET", "/api/no-such-route"),
                         ("GET", "/elsewhere")):
        status, hdrs, doc = call(s, method, path)
        assert status == 401, (method, path, doc)
        assert doc["err_code"] == 401 and "X-API-Key" in doc["err_msg"], doc
        assert hdrs.get("WWW-Authenticate", "").startswith("X-API-Key"), hdrs
        status, _, doc = call(s, method, path, UNKNOWN)
        assert status == 403 and doc == {"err_msg": "the API key is not valid", "err_code": 403}, (method, path, doc)
    # An empty header is no key; a key too long for any configured one is unknown.
    assert call(s, "GET", "/api/jobs", "")[0] == 401
    assert call(s, "GET", "/api/jobs", query_key="")[0] == 401
    assert call(s, "GET", "/api/jobs", query_key="x" * 500)[0] == 403
    # Open without a key: the health check and static files.
    status, _, doc = call(s, "GET", "/api/health")
    assert status == 200 and doc == {"status": "ok"}
    status, _, data = s.request("GET", "/site/index.html")
    assert status == 200 and data == b"hello"
    # With a valid key an unknown route is a plain 404.
    assert call(s, "GET", "/api/no-such-route", BOB)[0] == 404
    # Any valid key reads tools and workflows, and may add a workflow.
    status, _, tools = call(s, "GET", "/api/tools", BOB)
    assert status == 200 and tools
    status, _, wfs = call(s, "GET", "/api/workflows", BOB)
    assert status == 200 and any(w["id"] == "diamond" for w in wfs["workflows"]), wfs
    status, _, data = s.request("POST", "/api/workflows", headers={"X-API-Key": BOB, "Content-Type": "application/yaml"},
                                body="id: bobs\nsteps:\n  - {id: a, tool: 'true'}\n")
    assert status == 201, data


def test_the_key_works_in_the_header_or_the_query_and_the_header_wins(servers, tmp_path):
    s = keyed(servers, tmp_path)
    job = post_job(s, ALICE, "true")
    assert job["user"] == "alice"
    status, _, doc = call(s, "POST", "/api/jobs", body={"tool_id": "true"}, query_key=BOB)
    assert status == 201 and doc["user"] == "bob", doc
    status, _, doc = call(s, "GET", "/api/jobs/%s" % job["id"], query_key=ALICE)
    assert status == 200 and doc["user"] == "alice"
    # The admin key holds '+', '/' and '=': percent-encoded in the query it works ...
    status, _, doc = call(s, "GET", "/api/stack", query_key=ROOT)
    assert status == 200 and doc["processes"], doc
    # ... while a raw '+' in a query means a space, so that key is not valid.
    status, _, doc = call(s, "GET", "/api/stack?key=" + ROOT.replace("/", "%2F").replace("=", "%3D"))
    assert status == 403, doc
    # Both given: the header is the one that counts.
    status, _, doc = call(s, "GET", "/api/jobs/%s" % job["id"], key=BOB, query_key=ALICE)
    assert status == 404, doc
    status, _, doc = call(s, "GET", "/api/jobs/%s" % job["id"], key=ALICE, query_key=UNKNOWN)
    assert status == 200, doc


def test_a_user_sees_lists_and_cancels_only_their_own_jobs_and_an_admin_all(servers, tmp_path):
    s = keyed(servers, tmp_path)
    done = post_job(s, ALICE, "echo", {"text": "alice's"})
    slow = post_job(s, ALICE, "sleep", {"seconds": 600})
    bobs = post_job(s, BOB, "sleep", {"seconds": 600})
    done = wait_job(s, ALICE, done["id"])
    assert done["state"] == "ok" and done["user"] == "alice"
    wait_job(s, ALICE, slow["id"], ("running",))
    wait_job(s, BOB, bobs["id"], ("running",))

    # Lists: each user their own, the admin everyone's.
    status, _, mine = call(s, "GET", "/api/jobs", ALICE)
    assert status == 200 and ids(mine["jobs"]) == {done["id"], slow["id"]} and mine["total"] == 2
    assert all(j["user"] == "alice" for j in mine["jobs"])
    status, _, theirs = call(s, "GET", "/api/jobs?state=running", BOB)
    assert ids(theirs["jobs"]) == {bobs["id"]} and theirs["total"] == 1
    status, _, everyone = call(s, "GET", "/api/jobs", ROOT)
    assert ids(everyone["jobs"]) == {done["id"], slow["id"], bobs["id"]} and everyone["total"] == 3

    # Another user's job is answered exactly like a missing one, whatever is asked of it.
    status, _, missing = call(s, "GET", "/api/jobs/999999", BOB)
    assert status == 404 and missing["err_msg"] == "no such job 999999"
    for sub in ("", "/stdout", "/stderr", "/history", "/outputs", "/outputs/out"):
        status, _, doc = call(s, "GET", "/api/jobs/%s%s" % (done["id"], sub), BOB)
        assert status == 404 and doc["err_msg"] == "no such job %s" % done["id"], (sub, doc)
        status, _, _ = call(s, "GET", "/api/jobs/%s%s" % (done["id"], sub), ALICE)
        assert status == 200, sub
    status, _, doc = call(s, "DELETE", "/api/jobs/%s" % slow["id"], BOB)
    assert status == 404 and doc["err_msg"] == "no such job %s" % slow["id"]
    assert call(s, "GET", "/api/jobs/%s" % slow["id"], ALICE)[2]["state"] == "running"

    # Bob may not feed alice's output to a job of his; alice may.
    status, _, doc = call(s, "POST", "/api/jobs", BOB, {"tool_id": "cat", "inputs": {
        "first": {"job": done["id"], "output": "out"}, "second": {"job": done["id"], "output": "out"}}})
    assert status == 400 and "first" in doc["err_msg"] and "job %s does not exist" % done["id"] in doc["err_msg"], doc
    cat = post_job(s, ALICE, "cat", {"first": {"job": done["id"], "output": "out"},
                                     "second": {"job": done["id"], "output": "out"}})
    assert wait_job(s, ALICE, cat["id"])["state"] == "ok"
    status, _, data = s.request("GET", "/api/jobs/%s/outputs/out" % cat["id"], headers={"X-API-Key": ALICE})
    assert status == 200 and data == b"alice's\nalice's\n"

    # The owner cancels their own; the admin cancels anyone's.
    status, _, doc = call(s, "DELETE", "/api/jobs/%s" % slow["id"], ALICE)
    assert status in (200, 202) and doc["state"] in ("deleting", "deleted"), doc
    status, _, doc = call(s, "DELETE", "/api/jobs/%s" % bobs["id"], ROOT)
    assert status in (200, 202) and doc["user"] == "bob", doc
    assert wait_job(s, ALICE, slow["id"])["state"] == "deleted"
    assert wait_job(s, BOB, bobs["id"])["state"] == "deleted"


def test_a_user_sees_and_cancels_only_their_own_invocations_and_their_jobs_are_theirs(servers, tmp_path):
    s = keyed(servers, tmp_path)
    status, _, data = s.request("POST", "/api/workflows", headers={"X-API-Key": BOB, "Content-Type": "application/yaml"},
                                body="""\
id: slow
steps:
  - {id: nap, tool: sleep, inputs: {seconds: 600}}
""")
    assert status == 201, data
    status, _, data = s.request("POST", "/api/workflows", headers={"X-API-Key": BOB, "Content-Type": "application/yaml"},
                                body="""\
id: twice
inputs: [{name: data, type: data}]
steps:
  - {id: join, tool: cat, inputs: {first: {input: data}, second: {input: data}}}
""")
    assert status == 201, data

    inv = invoke(s, ALICE, "diamond", {"text": "mine"})
    assert inv["user"] == "alice"
    done = wait_inv(s, ALICE, inv["id"])
    assert done["state"] == "ok", done
    step_jobs = [st["job_id"] for st in done["steps"]]
    for jid in step_jobs:
        status, _, job = call(s, "GET", "/api/jobs/%s" % jid, ALICE)
        assert status == 200 and job["user"] == "alice", job
        assert call(s, "GET", "/api/jobs/%s/outputs" % jid, BOB)[0] == 404
    bob_slow = invoke(s, BOB, "slow")
    alice_slow = invoke(s, ALICE, "slow")

    # Get, list, cancel.
    status, _, doc = call(s, "GET", "/api/invocations/%s" % inv["id"], BOB)
    assert status == 404 and doc["err_msg"] == "no such invocation %s" % inv["id"]
    status, _, doc = call(s, "DELETE", "/api/invocations/%s" % alice_slow["id"], BOB)
    assert status == 404 and doc["err_msg"] == "no such invocation %s" % alice_slow["id"]
    status, _, mine = call(s, "GET", "/api/invocations", ALICE)
    assert status == 200 and ids(mine["invocations"]) == {inv["id"], alice_slow["id"]} and mine["total"] == 2
    status, _, theirs = call(s, "GET", "/api/invocations", BOB)
    assert ids(theirs["invocations"]) == {bob_slow["id"]}
    status, _, everyone = call(s, "GET", "/api/invocations?workflow_id=slow", ROOT)
    assert ids(everyone["invocations"]) == {bob_slow["id"], alice_slow["id"]}
    status, _, doc = call(s, "GET", "/api/invocations?state=ok", ROOT)
    assert ids(doc["invocations"]) == {inv["id"]}

    # Bob's step jobs are bob's, and what he cannot see stays out of his job list.
    wait_for(lambda: call(s, "GET", "/api/invocations/%s" % bob_slow["id"], BOB)[2]["steps"][0]["job_state"]
             == "running", 30, what="bob's step to run")
    status, _, jobs = call(s, "GET", "/api/jobs", BOB)
    assert {j["user"] for j in jobs["jobs"]} == {"bob"} and jobs["total"] == 1

    status, _, doc = call(s, "DELETE", "/api/invocations/%s" % alice_slow["id"], ALICE)
    assert status == 200 and doc["state"] == "cancelled", doc
    status, _, doc = call(s, "DELETE", "/api/invocations/%s" % bob_slow["id"], ROOT)
    assert status == 200 and doc["state"] == "cancelled" and doc["user"] == "bob", doc

    # Data inputs of an invocation: only one's own jobs.
    a_job = done["steps"][0]["job_id"]
    status, _, doc = call(s, "POST", "/api/workflows/twice/invocations", BOB,
                          {"inputs": {"data": {"job": a_job, "output": "out"}}})
    assert status == 400 and "'data'" in doc["err_msg"] and "job %s does not exist" % a_job in doc["err_msg"], doc
    own = invoke(s, ALICE, "twice", {"data": {"job": a_job, "output": "out"}})
    assert wait_inv(s, ALICE, own["id"])["state"] == "ok"
    # An admin may use anyone's, also when the scheduler creates the step's job.
    admins = invoke(s, ROOT, "twice", {"data": {"job": a_job, "output": "out"}})
    done = wait_inv(s, ROOT, admins["id"])
    assert done["state"] == "ok" and done["user"] == "root", done
    assert call(s, "GET", "/api/jobs/%s" % done["steps"][0]["job_id"], ALICE)[0] == 404


def test_only_admin_users_read_the_stack(servers, tmp_path):
    s = keyed(servers, tmp_path)
    status, _, doc = call(s, "GET", "/api/stack", BOB)
    assert status == 403 and "admin" in doc["err_msg"] and doc["err_code"] == 403, doc
    status, _, doc = call(s, "GET", "/api/stack", ROOT)
    assert status == 200 and any(p["role"] == "web" for p in doc["processes"])


def test_keys_never_reach_the_logs(servers, tmp_path):
    s = keyed(servers, tmp_path, ["--log-level", "debug"])
    post_job(s, ALICE, "true")
    call(s, "GET", "/api/jobs?state=ok", query_key=ALICE)
    call(s, "GET", "/api/jobs", query_key=UNKNOWN)
    call(s, "GET", "/api/stack", query_key=ROOT)
    call(s, "GET", "/api/stack", BOB)
    call(s, "GET", "/api/jobs?k%%65y=%s&limit=5" % BOB)
    call(s, "GET", "/api/jobs", UNKNOWN)
    call(s, "POST", "/api/jobs", UNKNOWN, {"tool_id": "true"})
    wait_for(lambda: "GET /api/jobs?k%65y=****&limit=5 " in s.log(), 10, what="the last access line")
    access = [l for l in s.log_lines if "muleteer.access" in l]
    assert any("GET /api/jobs?state=ok&key=**** 200 " in l for l in access), access
    assert any("GET /api/jobs?key=**** 403 " in l for l in access), access
    assert any("GET /api/stack?key=**** 200 " in l for l in access), access
    assert s.stop() == 0
    log = s.log()
    for key in KEYS:
        for form in (key, urllib.parse.quote(key, safe=""), key[:12]):
            assert form not in log, "%s in the log:\n%s" % (form, log)
    s.check_log()


def run(args, tmp_path):
    return subprocess.run([MULETEER, "--http", "127.0.0.1:0"] + args, capture_output=True, text=True,
                          cwd=str(tmp_path), timeout=20)


def test_bad_keys_stop_the_start_with_a_message_that_names_the_entry_not_the_key(tmp_path):
    cases = [
        ("api-key = %s:alice\napi-key = tooShortKey12:bob\n" % ALICE,
         "keys.ini:3: option 'api-key' #2 (user bob): the key is 13 characters; at least 16 are required",
         "tooShortKey12"),
        ("api-key = %s\n" % BOB, "keys.ini:2: option 'api-key' #1: no user after the key (expected KEY:USER)", BOB),
        ("api-key = :alice\n", "keys.ini:2: option 'api-key' #1 (user alice): empty key (expected KEY:USER)", None),
        ("api-key = %s:alice\napi-key = %s:mallory\n" % (ALICE, ALICE),
         "keys.ini:3: option 'api-key' #2 (user mallory): the same key as #1 (user alice)", ALICE),
        ("api-key = has spaces in this key:alice\n",
         "keys.ini:2: option 'api-key' #1 (user alice): character 4 of the key is not one of", "has spaces"),
        ("api-key = %s:alice\nadmin-users = alice,,root\n" % ALICE,
         "keys.ini:3: option 'admin-users': '': empty user name", ALICE),
        ("api-key = alice:%s\n" % ALICE, "the key comes first: KEY:USER", ALICE),
    ]
    for text, message, secret in cases:
        ini = write(tmp_path, "keys.ini", "[muleteer]\n" + text)
        r = run(["--ini", ini], tmp_path)
        assert r.returncode == 1, (text, r.returncode, r.stderr)
        assert message in r.stderr, (text, r.stderr)
        assert "serving on" not in r.stderr and "HTTP on" not in r.stderr, r.stderr
        if secret:
            assert secret not in r.stderr + r.stdout, r.stderr
    r = run(["--api-key", "%s:alice" % ALICE, "--api-key", "short:bob"], tmp_path)
    assert r.returncode == 1
    assert "command line: option '--api-key' #2 (user bob): the key is 5 characters" in r.stderr, r.stderr
    assert ALICE not in r.stderr


def test_print_config_masks_every_key(tmp_path):
    ini = keys_ini(tmp_path)
    r = run(["--ini", ini, "--print-config"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert "api-key = ****:alice    # %s:2" % ini in r.stdout, r.stdout
    assert "api-key = ****:root    # %s:4" % ini in r.stdout, r.stdout
    assert "admin-users = root" in r.stdout
    for key in (ALICE, BOB, ROOT):
        assert key not in r.stdout + r.stderr


def test_without_keys_the_api_stays_open_and_jobs_from_then_belong_to_nobody(servers, tmp_path):
    data = str(tmp_path / "data")
    s = servers(["--admin-users", "root", "--set", "jobs.data-dir=%s" % data])
    assert "option 'admin-users' has no effect" in s.log()
    status, _, job = call(s, "POST", "/api/jobs", body={"tool_id": "true"})
    assert status == 201 and job["user"] is None
    assert call(s, "GET", "/api/stack")[0] == 200
    status, _, doc = call(s, "GET", "/api/jobs/%s" % job["id"], UNKNOWN)
    assert status == 200, "with no key configured any key, or none, is accepted"
    assert s.stop() == 0
    s.check_log()

    # Keys configured later: the old job is nobody's, so only an admin sees it.
    k = keyed(servers, tmp_path, ["--set", "jobs.data-dir=%s" % data])
    status, _, doc = call(k, "GET", "/api/jobs", BOB)
    assert status == 200 and doc["total"] == 0, doc
    assert call(k, "GET", "/api/jobs/%s" % job["id"], BOB)[0] == 404
    status, _, doc = call(k, "GET", "/api/jobs/%s" % job["id"], ROOT)
    assert status == 200 and doc["user"] is None
