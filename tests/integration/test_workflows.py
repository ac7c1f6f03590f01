"""Workflow definitions through the HTTP API: the sample directory, creation by POST, validation errors."""
import json

HEADERS_YAML = {"Content-Type": "application/yaml"}

TWO_STEPS = """\
id: two-steps
name: Echo then count
inputs:
  - name: words
    type: text
steps:
  - id: say
    tool: echo
    inputs:
      text: {input: words}
  - id: count
    tool: wc
    inputs:
      input: {step: say, output: out}
"""


def post(s, body, headers=HEADERS_YAML):
    status, _, data = s.request("POST", "/api/workflows", body=body, headers=headers)
    return status, json.loads(data)


def test_the_sample_diamond_is_listed_and_shown_in_step_order(servers):
    s = servers([])
    status, doc = s.get_json("/api/workflows")
    assert status == 200
    listed = {w["id"]: w for w in doc["workflows"]}
    assert listed["diamond"]["source"] == "file" and listed["diamond"]["steps"] == 4
    status, wf = s.get_json("/api/workflows/diamond")
    assert status == 200
    order = [st["id"] for st in wf["steps"]]
    assert order[0] == "a" and order[-1] == "d", order
    d = wf["steps"][-1]
    assert d["tool"] == "cat"
    assert d["inputs"] == {"first": {"step": "b", "output": "count"}, "second": {"step": "c", "output": "out"}}
    assert wf["inputs"][0]["name"] == "text"
    status, err = s.get_json("/api/workflows/nope")
    assert status == 404 and "nope" in err["err_msg"]


def test_a_posted_workflow_is_stored_and_seen_by_every_web_worker(servers):
    s = servers(["--processes", "2"])
    status, wf = post(s, TWO_STEPS)
    assert status == 201, wf
    assert wf["id"] == "two-steps" and wf["source"] == "api"
    assert [st["id"] for st in wf["steps"]] == ["say", "count"]
    for _ in range(6):  # new connections land on either web worker
        status, got = s.get_json("/api/workflows/two-steps")
        assert status == 200 and got["steps"] == wf["steps"]
    status, doc = s.get_json("/api/workflows")
    assert {"diamond", "two-steps"} <= {w["id"] for w in doc["workflows"]}
    status, err = post(s, TWO_STEPS)
    assert status == 409 and "already exists" in err["err_msg"]
    status, err = post(s, TWO_STEPS.replace("two-steps", "diamond"))
    assert status == 409, err


def test_json_body_is_accepted(servers):
    s = servers([])
    body = {"id": "j", "steps": [{"id": "only", "tool": "echo", "inputs": {"text": "hi"}}]}
    status, wf = post(s, json.dumps(body), {"Content-Type": "application/json"})
    assert status == 201, wf
    assert wf["steps"][0]["inputs"] == {"text": "hi"}


def test_invalid_workflows_get_400_naming_the_step_and_the_reason(servers):
    s = servers([])
    cases = [
        (TWO_STEPS.replace("tool: wc", "tool: nosuch"), ["count", "nosuch"]),
        (TWO_STEPS.replace("output: out", "output: outt"), ["count", "outt"]),
        (TWO_STEPS.replace("{input: words}", "{input: nowords}"), ["say", "nowords"]),
        ("id: loop\nsteps:\n  - {id: x, tool: wc, inputs: {input: {step: y, output: count}}}\n"
         "  - {id: y, tool: wc, inputs: {input: {step: x, output: count}}}\n", ["'x'", "'y'", "cycle"]),
        (TWO_STEPS.replace("text: {input: words}", "text: {step: count, output: count}"), ["say", "data"]),
        (TWO_STEPS.replace("      input: {step: say, output: out}", "      input: 3"), ["count", "input"]),
        ("id: x\nsteps: []\n", ["step"]),
        ("id: x\nsteps:\n  - {id: j, tool: cat, inputs: {first: {step: k, output: out}}}\n"
         "  - {id: k, tool: echo, inputs: {text: hi}}\n", ["'j'", "second"]),   # a required input left out
        (TWO_STEPS.replace("type: text", "type: integer"), ["say", "text"]),   # a workflow input of the wrong type
        ("id: [unclosed\n", []),
        ("", ["body"]),
    ]
    for body, words in cases:
        status, err = post(s, body)
        assert status == 400, (body, err)
        for w in words:
            assert w in err["err_msg"], (w, err["err_msg"])
    status, doc = s.get_json("/api/workflows")
    assert [w["id"] for w in doc["workflows"]] == ["diamond"], "nothing invalid was stored"
