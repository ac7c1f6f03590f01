"""The dashboard's Submit, Workflows and Invocations pages in a real browser (headless Chromium via Selenium).

Each test starts a real stack with the tools and workflows shipped in tools/ and workflows/ and drives the pages
the way a person does: a job submitted through the form generated from the tool's inputs reaches `ok` without a
reload, and a data input is chosen among finished jobs' outputs; every type of input gets its widget, label,
bounds and default; a bad value shows the API's own validation message beside the form, on the input it names; a
workflow is drawn as a layered graph of its steps and edges, with the steps in words; an invocation started from
the Invoke form shows its steps reaching `ok` live, each step a link reached and opened from the keyboard; an
invocation is cancelled from its page after a confirmation; a failed step and the step it leaves not run are
shown as such; the invocations list filters and pages; with API keys a user sees neither another's invocations
nor their outputs; the invocation page follows a restart of the server; every control has a label and
every text WCAG AA contrast. Pages are photographed at 1280x800 and
375x800 into the test's directory (the page itself never wider than the screen), and the browser's console must
hold no error but those a test provokes on purpose.
"""
import json
import os
import re
import time

from conftest import wait_for, write

# A workflow slow enough to be seen running: a sleep (its length an input) and an echo beside it.
NAP = {
    "id": "nap", "name": "Nap", "description": "Sleeps, and echoes beside it.",
    "inputs": [{"name": "seconds", "type": "float", "default": 4}],
    "steps": [
        {"id": "first", "tool": "sleep", "inputs": {"seconds": {"input": "seconds"}}},
        {"id": "then", "tool": "echo", "inputs": {"text": "awake"}},
    ],
}

SIZES = ((1280, 800), (375, 800))


# -- the browser (conftest's `browser` fixture: a headless Chromium, its console kept) -----------------------------

def by_css(d, sel):
    return d.find_elements("css selector", sel)


def one(d, sel, timeout=10):
    return wait_for(lambda: (by_css(d, sel) or [None])[0], timeout, what="an element matching %r" % sel)


def hash_of(d):
    return d.execute_script("return location.hash")


def shoot(browser, name):
    """Screenshots of the page shown at both widths (into the test's tmp_path); at the phone width nothing but the
    graph's own box may scroll sideways."""
    d = browser.driver
    for w, h in SIZES:
        d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                          {"width": w, "height": h, "deviceScaleFactor": 1, "mobile": w < 600})
        try:
            time.sleep(0.2)
            width = d.execute_script("return document.documentElement.scrollWidth")
        finally:
            d.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
        assert width <= w, "%s at %d px: the page is %d px wide" % (name, w, width)
        path = browser.screenshot("dashboard-" + name, w, h)
        assert os.path.getsize(path) > 2000, path


def api(srv, method, path, body=None):
    status, _, data = srv.request(method, path, json.dumps(body) if body is not None else None,
                                  {"Content-Type": "application/json"} if body is not None else None)
    return status, (json.loads(data) if data else None)


def start(servers):
    return servers([])


def open_page(d, srv, route):
    d.get("http://127.0.0.1:%d/#%s" % (srv.port, route))


def step_states(d):
    # One script reads every step at once: the graph is redrawn by its polls, and elements found in one call
    # may be gone by the next.
    return {key[5:]: state for key, state in d.execute_script(
        "return [...document.querySelectorAll('#inv-graph svg .wf-step')]"
        ".map(g => [g.getAttribute('data-key'), g.getAttribute('data-state')])")}


def wait_steps(d, srv, inv_id, pred, what, timeout=30):
    """Wait until pred(the graph's step states) holds; on timeout say what the page and the API show."""
    try:
        return wait_for(lambda: pred(step_states(d)), timeout, what=what)
    except AssertionError as e:
        raise AssertionError("%s: the page shows %s (hash %s), the API %s\n%s" % (
            e, step_states(d), hash_of(d), api(srv, "GET", "/api/invocations/" + inv_id), srv.log())) from None


# -- Submit ------------------------------------------------------------------------------------------------------

def test_submit_form_job_reaches_ok_without_reload(servers, browser):
    srv = start(servers)
    d = browser.driver
    open_page(d, srv, "/submit")
    one(d, "#tool-list a[href='#/submit/echo']").click()
    field = one(d, "#submit-in-text")
    assert field.get_attribute("value") == "hello"          # the tool's default
    label = one(d, "label[for='submit-in-text']")
    assert label.text.strip().startswith("Text to write")   # the tool's label
    d.execute_script("window.__stayed = 'same page'")
    field.clear()
    field.send_keys("typed in the form")
    one(d, "#submit-submit").click()
    m = wait_for(lambda: re.fullmatch(r"#/jobs/(\d+)", hash_of(d) or ""), what="the new job's page")
    job_id = m.group(1)
    status, job = api(srv, "GET", "/api/jobs/" + job_id)
    assert status == 200 and job["tool_id"] == "echo" and job["params"]["text"] == "typed in the form"
    # The job page follows it to ok by itself: no reload (the marker set before submitting survives).
    wait_for(lambda: by_css(d, "#main .badge.s-ok"), 20, what="the job page to show ok\n" + srv.log())
    assert d.execute_script("return window.__stayed") == "same page"
    assert api(srv, "GET", "/api/jobs/" + job_id)[1]["state"] == "ok"

    # A data input is chosen among the outputs of finished jobs: count the lines of that echo's output.
    open_page(d, srv, "/submit/wc")
    sel = one(d, "#submit-in-input")
    want = json.dumps({"job": job_id, "output": "out"}).replace(" ", "")
    options = wait_for(lambda: [o for o in sel.find_elements("css selector", "option")
                                if o.get_attribute("value").replace(" ", "") == want], what="the echo's output offered")
    options[0].click()
    one(d, "#submit-submit").click()
    m = wait_for(lambda: re.fullmatch(r"#/jobs/(\d+)", hash_of(d) or ""), what="the wc job's page")
    wc_id = m.group(1)
    assert wc_id != job_id
    wait_for(lambda: api(srv, "GET", "/api/jobs/" + wc_id)[1]["state"] == "ok", 20, what="wc to end ok")
    status, _, out = srv.request("GET", "/api/jobs/%s/outputs/count" % wc_id)
    assert status == 200 and out.strip() == b"1"
    browser.assert_no_console_errors()


def test_submit_form_shows_the_api_validation_message(servers, browser):
    srv = start(servers)
    d = browser.driver
    open_page(d, srv, "/submit/sleep")
    field = one(d, "#submit-in-seconds")
    hint = one(d, "#submit-in-seconds-hint").text
    assert "from 0 to 3600" in hint and "default 1" in hint
    cases = [("5000", None), ("abc", None)]
    for value, _ in cases:
        # What the API answers for the same inputs: the message the form must show, word for word.
        status, body = api(srv, "POST", "/api/jobs", {"tool_id": "sleep", "inputs": {"seconds": value}})
        assert status == 400, body
        field.clear()
        field.send_keys(value)
        one(d, "#submit-submit").click()
        err = wait_for(lambda: one(d, "#submit-error").text.strip() or None, what="the form's error")
        assert err == body["err_msg"]
        assert "seconds" in err
        assert field.get_attribute("aria-invalid") == "true"
        assert one(d, "#submit-in-seconds-err").text.strip() == body["err_msg"]
        assert "invalid" in one(d, ".field[data-input='seconds']").get_attribute("class")
        assert hash_of(d) == "#/submit/sleep"                  # stayed on the form
    # A required data input left empty: the API's "is required", on that field.
    open_page(d, srv, "/submit/cat")
    one(d, "#submit-in-first")
    status, body = api(srv, "POST", "/api/jobs", {"tool_id": "cat", "inputs": {}})
    assert status == 400
    one(d, "#submit-submit").click()
    wait_for(lambda: one(d, "#submit-error").text.strip() == body["err_msg"], what="the required message")
    assert one(d, "#submit-in-first").get_attribute("aria-invalid") == "true"
    assert api(srv, "GET", "/api/jobs")[1]["total"] == 0    # nothing was created
    shoot(browser, "submit-error")
    # Chromium logs the refused POSTs (made on purpose) as failed resources; nothing else may be there.
    browser.assert_no_console_errors(ignore=(r"api/jobs - Failed to load resource: the server responded with a status of 400",))


# -- Workflows ---------------------------------------------------------------------------------------------------

def test_workflow_graph_shows_steps_and_edges(servers, browser):
    srv = start(servers)
    d = browser.driver
    open_page(d, srv, "/workflows")
    one(d, "#workflow-list a[href='#/workflows/diamond']").click()
    svg = one(d, "#wf-graph svg")
    assert svg.get_attribute("data-workflow") == "diamond"
    nodes = {g.get_attribute("data-key"): g for g in by_css(d, "#wf-graph svg .wf-node")}
    assert set(nodes) == {"in:text", "step:a", "step:b", "step:c", "step:d"}
    texts = {k: g.text.replace("\n", " ") for k, g in nodes.items()}
    assert "a · echo" in texts["step:a"] and "b · wc" in texts["step:b"] and "d · cat" in texts["step:d"]
    edges = {(p.get_attribute("data-from"), p.get_attribute("data-to")) for p in by_css(d, "#wf-graph svg path.wf-edge")}
    assert edges == {("in:text", "step:a"), ("step:a", "step:b"), ("step:a", "step:c"),
                     ("step:b", "step:d"), ("step:c", "step:d")}
    # Layered: every edge points right, b and c share a column, d is right of both.
    x = {k: nodes[k].rect["x"] for k in nodes}
    for a, b in edges:
        assert x[a] < x[b], (a, b, x)
    assert x["step:b"] == x["step:c"]
    # The text alternative: each step, its tool and its sources in words.
    items = [li.text for li in by_css(d, "ol.step-list li")]
    assert items[0].startswith("a runs echo") and "text from workflow input text" in items[0]
    assert items[3].startswith("d runs cat") and "first from b.count" in items[3] and "second from c.out" in items[3]
    # The Invoke form comes from the workflow's inputs.
    assert one(d, "#invoke-in-text").get_attribute("value") == "hello"
    # On a phone the layers are rows, top to bottom, and the diamond fits the screen: no sideways scrolling.
    assert svg.get_attribute("data-layout") == "right"
    d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {"width": 375, "height": 800, "deviceScaleFactor": 1,
                                                             "mobile": True})
    try:
        wait_for(lambda: by_css(d, "#wf-graph svg[data-layout='down']"), what="the graph drawn top-down")
        nodes = {g.get_attribute("data-key"): g.rect for g in by_css(d, "#wf-graph svg .wf-node")}
        for a, b in edges:
            assert nodes[a]["y"] + nodes[a]["height"] < nodes[b]["y"], (a, b, nodes)
        assert nodes["step:b"]["y"] == nodes["step:c"]["y"]
        assert d.execute_script("const w = document.getElementById('wf-graph'); return w.scrollWidth <= w.clientWidth")
        assert len(by_css(d, "#wf-graph svg")) == 1
    finally:
        d.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    wait_for(lambda: by_css(d, "#wf-graph svg[data-layout='right']"), what="the graph drawn left to right again")
    svg = one(d, "#wf-graph svg")
    shoot(browser, "workflow")
    # Columns: a step sits right of the rightmost node it takes from, however far back the others are; a step
    # fed only literals sits in the first column of steps, with no edge.
    skew = {"id": "skew", "name": "Skew", "inputs": [{"name": "x", "type": "text"}], "steps": [
        {"id": "p", "tool": "echo", "inputs": {"text": {"input": "x"}}},
        {"id": "q", "tool": "wc", "inputs": {"input": {"step": "p", "output": "out"}}},
        {"id": "r", "tool": "cat", "inputs": {"first": {"step": "p", "output": "out"},
                                              "second": {"step": "q", "output": "count"}}},
        {"id": "lit", "tool": "echo", "inputs": {"text": "a literal"}}]}
    assert api(srv, "POST", "/api/workflows", skew)[0] == 201
    open_page(d, srv, "/workflows/skew")
    one(d, "#wf-graph svg[data-workflow='skew']")
    x = {g.get_attribute("data-key"): g.rect["x"] for g in by_css(d, "#wf-graph svg .wf-node")}
    assert x["in:x"] < x["step:p"] == x["step:lit"] < x["step:q"] < x["step:r"], x
    edges = {(p.get_attribute("data-from"), p.get_attribute("data-to")) for p in by_css(d, "#wf-graph svg path.wf-edge")}
    assert edges == {("in:x", "step:p"), ("step:p", "step:q"), ("step:p", "step:r"), ("step:q", "step:r")}
    # x has no default: the Invoke form marks it required, and invoking without it gets the API's message.
    field = one(d, "#invoke-in-x")
    assert field.get_attribute("aria-required") == "true" and field.get_attribute("value") == ""
    status, body = api(srv, "POST", "/api/workflows/skew/invocations", {"inputs": {}})
    assert status == 400
    one(d, "#invoke-submit").click()
    wait_for(lambda: one(d, "#invoke-error").text.strip() == body["err_msg"], what="the required input's message")
    assert field.get_attribute("aria-invalid") == "true"
    open_page(d, srv, "/workflows")
    one(d, "#workflow-list")
    shoot(browser, "workflows")
    open_page(d, srv, "/submit")
    one(d, "#tool-list")
    shoot(browser, "submit")
    open_page(d, srv, "/submit/sleep")
    one(d, "#submit-form")
    shoot(browser, "submit-tool")
    browser.assert_no_console_errors(ignore=(r"invocations - Failed to load resource: the server responded with a status of 400",))


def test_invocation_from_the_form_reaches_ok_live(servers, browser):
    srv = start(servers)
    d = browser.driver
    assert api(srv, "POST", "/api/workflows", NAP)[0] == 201
    # The sample diamond, invoked from its form: every step ends ok, each linking to its job.
    open_page(d, srv, "/workflows/diamond")
    field = one(d, "#invoke-in-text")
    field.clear()
    field.send_keys("from the dashboard")
    one(d, "#invoke-submit").click()
    m = wait_for(lambda: re.fullmatch(r"#/invocations/(\d+)", hash_of(d) or ""), what="the invocation's page")
    inv_id = m.group(1)
    wait_steps(d, srv, inv_id, lambda st: st == {"a": "ok", "b": "ok", "c": "ok", "d": "ok"}, "every step ok in the graph")
    wait_for(lambda: one(d, "#inv-state").get_attribute("data-state") == "ok", what="the invocation ok")
    status, inv = api(srv, "GET", "/api/invocations/" + inv_id)
    assert inv["state"] == "ok" and inv["inputs"] == {"text": "from the dashboard"}
    links = {a.get_attribute("aria-label").split(",")[0]: a.get_dom_attribute("href")
             for a in by_css(d, "#inv-graph svg a.wf-link")}
    for s in inv["steps"]:
        assert links["step " + s["id"]] == "#/jobs/" + s["job_id"]
    legend = one(d, ".wf-legend").text
    for word in ("waiting", "running", "ok", "failed", "not run", "cancelled"):
        assert word in legend
    assert "ok" in one(d, "#inv-steps li[data-step='d']").text    # the state in words, not colour alone
    shoot(browser, "invocation")
    wait_for(lambda: by_css(d, "#inv-graph svg[data-layout='right']"), what="the wide graph again")
    # Keyboard: the steps are links in the tab order; Enter on one opens its job.
    assert d.execute_script("return [...document.querySelectorAll('#inv-graph a.wf-link')].map(a => a.tabIndex)") == [0] * 4
    d.execute_script("document.querySelector('#inv-graph a.wf-link[aria-label^=\"step d,\"]').focus()")
    assert d.switch_to.active_element.get_attribute("aria-label").startswith("step d, ok, job ")
    from selenium.webdriver.common.keys import Keys
    d.switch_to.active_element.send_keys(Keys.ENTER)
    d_job = [s["job_id"] for s in inv["steps"] if s["id"] == "d"][0]
    wait_for(lambda: hash_of(d) == "#/jobs/" + d_job, what="Enter on step d to open its job")

    # A slow one, watched from the page: its sleep is seen running, then ok, without a reload.
    open_page(d, srv, "/workflows/nap")
    one(d, "#invoke-in-seconds")
    d.execute_script("window.__stayed = 'same page'")
    one(d, "#invoke-submit").click()
    m = wait_for(lambda: re.fullmatch(r"#/invocations/(\d+)", hash_of(d) or ""), what="the nap invocation's page")
    nap_id = m.group(1)
    assert nap_id != inv_id
    wait_steps(d, srv, nap_id, lambda st: st.get("first") == "running", "the sleep seen running")
    assert api(srv, "GET", "/api/invocations/" + nap_id)[1]["state"] != "ok"
    wait_steps(d, srv, nap_id, lambda st: st == {"first": "ok", "then": "ok"}, "the nap's steps ok")
    wait_for(lambda: one(d, "#inv-state").get_attribute("data-state") == "ok", what="the nap invocation ok")
    assert d.execute_script("return window.__stayed") == "same page"
    assert not one(d, "#inv-cancel").is_displayed()              # nothing left to cancel

    # The list: both, filtered by workflow and by state.
    open_page(d, srv, "/invocations")
    rows = lambda: d.execute_script(  # in one script: the list is redrawn as its page changes
        "return [...document.querySelectorAll('#inv-table tbody tr')].map(r => r.getAttribute('data-invocation'))")
    wait_for(lambda: rows() == [nap_id, inv_id], what="both invocations listed, newest first")
    shoot(browser, "invocations")
    open_page(d, srv, "/invocations?workflow_id=diamond")
    wait_for(lambda: rows() == [inv_id], what="the diamond's only")
    open_page(d, srv, "/invocations?state=cancelled")
    one(d, "#inv-empty")
    browser.assert_no_console_errors()


def test_cancel_an_invocation_from_its_page(servers, browser):
    srv = start(servers)
    d = browser.driver
    assert api(srv, "POST", "/api/workflows", NAP)[0] == 201
    status, inv = api(srv, "POST", "/api/workflows/nap/invocations", {"inputs": {"seconds": 120}})
    assert status == 201
    inv_id = inv["id"]
    open_page(d, srv, "/invocations/" + inv_id)
    wait_steps(d, srv, inv_id, lambda st: st.get("first") == "running", "the sleep running")
    one(d, "#inv-cancel").click()
    # The confirmation comes first: "No" keeps it running.
    assert one(d, "#inv-confirm").is_displayed()
    one(d, "#inv-confirm-no").click()
    assert not one(d, "#inv-confirm").is_displayed()
    time.sleep(0.5)
    assert api(srv, "GET", "/api/invocations/" + inv_id)[1]["state"] not in ("cancelled", "ok", "failed")
    one(d, "#inv-cancel").click()
    one(d, "#inv-confirm-yes").click()
    wait_for(lambda: one(d, "#inv-state").get_attribute("data-state") == "cancelled", 15, what="cancelled shown")
    wait_steps(d, srv, inv_id, lambda st: st.get("first") == "cancelled", "the sleep step cancelled in the graph")
    status, cur = api(srv, "GET", "/api/invocations/" + inv_id)
    assert cur["state"] == "cancelled"
    job_id = [s for s in cur["steps"] if s["id"] == "first"][0]["job_id"]
    wait_for(lambda: api(srv, "GET", "/api/jobs/" + job_id)[1]["state"] == "deleted", 15, what="the sleep job stopped")
    assert not one(d, "#inv-cancel").is_displayed()
    assert "cancelled" in one(d, "#inv-steps li[data-step='first']").text
    shoot(browser, "invocation-cancelled")
    browser.assert_no_console_errors()


def test_invocations_list_filters_and_pages(servers, browser):
    srv = servers([])
    d = browser.driver
    once = {"id": "once", "name": "Once", "inputs": [], "steps": [{"id": "only", "tool": "true", "inputs": {}}]}
    assert api(srv, "POST", "/api/workflows", once)[0] == 201
    ids = [api(srv, "POST", "/api/workflows/once/invocations", {"inputs": {}})[1]["id"] for _ in range(27)]
    diamond = api(srv, "POST", "/api/workflows/diamond/invocations", {"inputs": {}})[1]["id"]
    wait_for(lambda: api(srv, "GET", "/api/invocations?state=ok&limit=100")[1]["total"] == 28, 30,
             what="every invocation ok\n" + srv.log())
    newest_first = sorted(ids, key=int, reverse=True)
    rows = lambda: d.execute_script(  # in one script: the list is redrawn as its page changes
        "return [...document.querySelectorAll('#inv-table tbody tr')].map(r => r.getAttribute('data-invocation'))")
    # Filtered by workflow through the form: 25 a page, newest first; Older and Newer page through.
    open_page(d, srv, "/invocations")
    wait_for(lambda: rows() and rows()[0] == diamond, what="the newest invocation first")
    from selenium.webdriver.support.ui import Select
    Select(one(d, "#inv-filter-workflow")).select_by_value("once")
    Select(one(d, "#inv-filter-state")).select_by_value("ok")
    one(d, "#inv-filters button[type='submit']").click()
    wait_for(lambda: rows() == newest_first[:25], what="the first page of 'once'")
    assert "workflow_id=once" in hash_of(d) and "state=ok" in hash_of(d)
    assert one(d, "#inv-range").text == "1–25 of 27"
    assert not by_css(d, "#inv-prev")
    one(d, "#inv-next").click()
    wait_for(lambda: rows() == newest_first[25:], what="the second page")
    assert one(d, "#inv-range").text == "26–27 of 27"
    assert not by_css(d, "#inv-next")
    one(d, "#inv-prev").click()
    wait_for(lambda: rows() == newest_first[:25], what="back to the first page")
    # A state no invocation has: an empty list that says so.
    Select(one(d, "#inv-filter-state")).select_by_value("failed")
    one(d, "#inv-filters button[type='submit']").click()
    one(d, "#inv-empty")
    assert rows() == []
    browser.assert_no_console_errors()


def test_with_api_keys_a_user_sees_only_their_invocations_and_outputs(servers, browser, tmp_path):
    alice, bob, admin = "alice-" + "a" * 24, "bob-" + "b" * 24, "root-" + "r" * 24
    ini = write(tmp_path, "keys.ini", "[muleteer]\napi-key = %s:alice\napi-key = %s:bob\napi-key = %s:root\n"
                "admin-users = root\n" % (alice, bob, admin))
    srv = servers(["--ini", ini], start=False)
    srv.api_key = admin  # the harness reads /api/stack, an admin's
    srv.start()
    d = browser.driver

    def as_user(key, method, path, body=None):
        status, _, data = srv.request(method, path, json.dumps(body) if body is not None else None,
                                      {"X-API-Key": key, "Content-Type": "application/json"})
        return status, (json.loads(data) if data else None)

    status, inv = as_user(alice, "POST", "/api/workflows/diamond/invocations", {"inputs": {}})
    assert status == 201
    wait_for(lambda: as_user(alice, "GET", "/api/invocations/" + inv["id"])[1]["state"] == "ok", 20, what="alice's ok")
    # bob, through the key prompt: none of alice's invocations, and her outputs are not offered to his forms.
    open_page(d, srv, "/invocations")
    one(d, "#api-key-input", 15).send_keys(bob)
    one(d, "#api-key-save").click()
    one(d, "#inv-empty", 15)
    assert bob not in d.current_url
    open_page(d, srv, "/invocations/" + inv["id"])
    wait_for(lambda: "no such invocation " + inv["id"] in (one(d, "#main .form-error").text or ""),
             what="alice's invocation unknown to bob")
    open_page(d, srv, "/submit/wc")
    opts = [o.get_attribute("value") for o in one(d, "#submit-in-input").find_elements("css selector", "option")]
    assert opts == [""], opts
    # His own job, submitted through the form, is his and is then offered.
    open_page(d, srv, "/submit/echo")
    one(d, "#submit-submit").click()
    job_id = wait_for(lambda: re.fullmatch(r"#/jobs/(\d+)", hash_of(d) or ""), what="bob's job page").group(1)
    status, job = as_user(bob, "GET", "/api/jobs/" + job_id)
    assert status == 200 and job["user"] == "bob"
    wait_for(lambda: as_user(bob, "GET", "/api/jobs/" + job_id)[1]["state"] == "ok", 20, what="bob's job ok")
    open_page(d, srv, "/submit/wc")
    want = json.dumps({"job": job_id, "output": "out"}, separators=(",", ":"))
    wait_for(lambda: [o.get_attribute("value") for o in one(d, "#submit-in-input").find_elements("css selector", "option")]
             == ["", want], what="only bob's output offered")
    # The refusals the page meets on purpose (401 before the key, 404 alice's invocation) are the only errors.
    browser.assert_no_console_errors(ignore=(r"status of 40[14]",))


def test_invocation_page_follows_a_restart_of_the_server(servers, browser, tmp_path):
    from tcp_proxy import TcpProxy
    srv = servers([])
    assert api(srv, "POST", "/api/workflows", NAP)[0] == 201
    status, inv = api(srv, "POST", "/api/workflows/nap/invocations", {"inputs": {"seconds": 3}})
    assert status == 201
    inv_id = inv["id"]
    proxy = TcpProxy("127.0.0.1", srv.port)
    try:
        d = browser.driver
        d.get("http://127.0.0.1:%d/#/invocations/%s" % (proxy.port, inv_id))
        wait_steps(d, srv, inv_id, lambda st: st.get("first") == "running", "the sleep running")
        d.execute_script("window.__stayed = 'same page'")
        assert srv.stop() == 0
        wait_for(lambda: d.execute_script("return document.getElementById('conn-status').textContent")
                 == "reconnecting...", 15, what="the page to say reconnecting")
        # The same stack again, on the same database: the invocation goes on, and the page with it.
        srv2 = servers([])
        proxy.target = ("127.0.0.1", srv2.port)
        wait_for(lambda: api(srv2, "GET", "/api/invocations/" + inv_id)[1]["state"] == "ok", 60,
                 what="the invocation to end ok after the restart\n" + srv2.log())
        wait_steps(d, srv2, inv_id, lambda st: st == {"first": "ok", "then": "ok"}, "the graph to show both steps ok")
        wait_for(lambda: one(d, "#inv-state").get_attribute("data-state") == "ok", what="the invocation ok on the page")
        assert d.execute_script("return window.__stayed") == "same page"
        assert d.execute_script("return document.getElementById('conn-status').dataset.state") == "live"
        browser.assert_no_console_errors(ignore=(r"net::ERR_", r"Failed to fetch"))
    finally:
        proxy.close()


def test_a_failed_step_and_the_steps_it_leaves_not_run(servers, browser, tmp_path):
    import shutil
    from conftest import ROOT
    tools = tmp_path / "tools"
    shutil.copytree(os.path.join(ROOT, "tools"), str(tools))
    (tools / "refuse.yml").write_text('id: refuse\nversion: "1"\nname: fails on any non-empty text\n'
                                      'command: ["/usr/bin/test", "-z", "{text}"]\n'
                                      'inputs:\n  - {name: text, type: text}\noutputs:\n  - {name: out, from: stdout}\n')
    srv = servers(["--set", "jobs.tools-dir=%s" % tools])
    d = browser.driver
    breaks = {"id": "breaks", "name": "Breaks", "inputs": [{"name": "text", "type": "text", "default": "x"}], "steps": [
        {"id": "f", "tool": "refuse", "inputs": {"text": {"input": "text"}}},
        {"id": "g", "tool": "wc", "inputs": {"input": {"step": "f", "output": "out"}}},
        {"id": "h", "tool": "echo", "inputs": {"text": "beside"}}]}
    assert api(srv, "POST", "/api/workflows", breaks)[0] == 201
    open_page(d, srv, "/workflows/breaks")
    one(d, "#invoke-submit").click()
    inv_id = wait_for(lambda: re.fullmatch(r"#/invocations/(\d+)", hash_of(d) or ""), what="the page").group(1)
    wait_steps(d, srv, inv_id, lambda st: st == {"f": "failed", "g": "not_run", "h": "ok"}, "failed, not run, ok")
    wait_for(lambda: one(d, "#inv-state").get_attribute("data-state") == "failed", what="the invocation failed")
    inv = api(srv, "GET", "/api/invocations/" + inv_id)[1]
    assert inv["state"] == "failed"
    # Each state in words: in the node, and in the list of steps with the API's reason.
    nodes = {g.get_attribute("data-key")[5:]: g.text for g in by_css(d, "#inv-graph svg .wf-step")}
    assert "failed · job " in nodes["f"] and "not run" in nodes["g"] and "ok · job " in nodes["h"]
    g_info = [s for s in inv["steps"] if s["id"] == "g"][0]["info"]
    assert g_info and g_info in one(d, "#inv-steps li[data-step='g']").text
    assert one(d, "#inv-info").is_displayed()
    assert not one(d, "#inv-cancel").is_displayed()
    shoot(browser, "invocation-failed")
    browser.assert_no_console_errors()


KNOBS = '''\
id: knobs
version: "1"
name: Every kind of input
description: Echoes an integer, a flag, a choice and a number.
command: ["/bin/echo", "{count}", "{loud}", "{mode}", "{ratio}", "{note}"]
inputs:
  - {name: count, type: integer, label: How many, description: A whole number of things., min: 1, max: 9}
  - {name: loud, type: boolean, label: Loudly, default: false, truevalue: LOUD, falsevalue: quiet}
  - {name: mode, type: select, label: Mode, options: [fast, slow, careful]}
  - {name: ratio, type: float, label: Ratio, default: 0.5, min: 0, max: 1}
  - {name: note, type: text, label: Note, default: "", max_length: 20}
outputs:
  - {name: out, from: stdout}
'''


def test_a_form_for_every_type_of_input(servers, browser, tmp_path):
    import shutil
    from conftest import ROOT
    from selenium.webdriver.support.ui import Select
    tools = tmp_path / "tools"
    shutil.copytree(os.path.join(ROOT, "tools"), str(tools))
    (tools / "knobs.yml").write_text(KNOBS)
    srv = servers(["--set", "jobs.tools-dir=%s" % tools])
    d = browser.driver
    open_page(d, srv, "/submit/knobs")
    count, loud, mode = one(d, "#submit-in-count"), one(d, "#submit-in-loud"), one(d, "#submit-in-mode")
    ratio, note = one(d, "#submit-in-ratio"), one(d, "#submit-in-note")
    # Widgets by type, with the tool's labels, descriptions, bounds and defaults.
    assert count.get_attribute("inputmode") == "numeric" and count.get_attribute("value") == ""
    assert count.get_attribute("aria-required") == "true"
    assert one(d, "label[for='submit-in-count']").text.startswith("How many")
    hint = one(d, "#submit-in-count-hint").text
    assert "A whole number of things." in hint and "from 1 to 9" in hint and "required" in hint
    assert loud.get_attribute("type") == "checkbox" and not loud.is_selected()
    assert [o.get_attribute("value") for o in Select(mode).options] == ["", "fast", "slow", "careful"]
    assert ratio.get_attribute("value") == "0.5" and ratio.get_attribute("inputmode") == "decimal"
    assert "from 0 to 1" in one(d, "#submit-in-ratio-hint").text
    assert note.get_attribute("value") == "" and "at most 20 bytes" in one(d, "#submit-in-note-hint").text
    # Out of range, then not among the options: the API's messages, each on its input.
    count.send_keys("12")
    one(d, "#submit-submit").click()
    status, body = api(srv, "POST", "/api/jobs", {"tool_id": "knobs", "inputs": {"count": "12", "loud": False}})
    assert status == 400
    wait_for(lambda: one(d, "#submit-error").text.strip() == body["err_msg"], what="the range message")
    assert count.get_attribute("aria-invalid") == "true"
    count.clear()
    count.send_keys("7")
    one(d, "#submit-submit").click()
    status, body = api(srv, "POST", "/api/jobs", {"tool_id": "knobs", "inputs": {"count": "7", "loud": False}})
    assert status == 400 and "mode" in body["err_msg"]
    wait_for(lambda: one(d, "#submit-error").text.strip() == body["err_msg"], what="the required select's message")
    assert mode.get_attribute("aria-invalid") == "true" and count.get_attribute("aria-invalid") is None
    # Good values: the job gets them, normalised by the API.
    loud.click()
    Select(mode).select_by_value("careful")
    ratio.clear()
    ratio.send_keys("0.25")
    note.send_keys("hi")
    one(d, "#submit-submit").click()
    job_id = wait_for(lambda: re.fullmatch(r"#/jobs/(\d+)", hash_of(d) or ""), what="the job's page").group(1)
    job = api(srv, "GET", "/api/jobs/" + job_id)[1]
    assert job["params"] == {"count": 7, "loud": True, "mode": "careful", "ratio": 0.25, "note": "hi"}, job["params"]
    wait_for(lambda: api(srv, "GET", "/api/jobs/" + job_id)[1]["state"] == "ok", 20, what="the job ok")
    status, _, out = srv.request("GET", "/api/jobs/%s/outputs/out" % job_id)
    assert out == b"7 LOUD careful 0.25 hi\n"
    browser.assert_no_console_errors(ignore=(r"api/jobs - Failed to load resource: the server responded with a status of 400",))


def test_every_control_labelled_and_every_text_readable(servers, browser, tmp_path):
    from test_dashboard import LOW_CONTRAST, UNLABELLED
    srv = servers([])
    d = browser.driver
    status, inv = api(srv, "POST", "/api/workflows/diamond/invocations", {"inputs": {}})
    assert status == 201
    wait_for(lambda: api(srv, "GET", "/api/invocations/" + inv["id"])[1]["state"] == "ok", 20, what="the diamond ok")
    pages = (("/submit", "#tool-list"), ("/submit/cat", "#submit-form"), ("/submit/sleep", "#submit-form"),
             ("/workflows", "#workflow-list"), ("/workflows/diamond", "#invoke-form"),
             ("/invocations", "#inv-table"), ("/invocations/" + inv["id"], "#inv-graph svg .st-ok"))
    for route, ready in pages:
        open_page(d, srv, route)
        one(d, ready)
        assert d.execute_script(UNLABELLED) == [], route
        assert d.execute_script(LOW_CONTRAST) == [], route
    # The validation message too.
    open_page(d, srv, "/submit/sleep")
    one(d, "#submit-in-seconds").clear()
    one(d, "#submit-in-seconds").send_keys("9999")
    one(d, "#submit-submit").click()
    wait_for(lambda: one(d, "#submit-error").text.strip(), what="the message")
    assert d.execute_script(LOW_CONTRAST) == []
    browser.assert_no_console_errors(ignore=(r"api/jobs - Failed to load resource: the server responded with a status of 400",))
