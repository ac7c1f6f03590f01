"""The web dashboard in a real browser: headless Chromium driven by Selenium against the real stack.

The overview lists the stack's processes as /api/stack does and follows a restart of the server under the
page; a job submitted through the API appears in the jobs list and its page reaches `ok` without a reload;
Cancel on a job's page ends a running job `deleted`; the jobs list's filters and keyset paging on 10,000 jobs;
with API keys, the key prompt, and a second user who sees none of the first user's jobs; the keyboard (skip link,
navigation, visible focus), labels, WCAG AA contrast, and the folded navigation at 375 px; the overview's polls,
every 2 s while shown and none while its tab is hidden. Every test checks that
the browser's console holds no error, and saves screenshots of the pages it shows at 1280x800 and 375x800 in its
tmp_path (the overview's also in docs/dashboard-overview.png).
"""
import json
import os
import time
from conftest import ROOT, wait_for, write
from job_api import post_job, job_doc
from tcp_proxy import TcpProxy

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select  # noqa: E402

ALICE = "alice-key-0123456789abcdef"
BOB = "bob-key-ZYXWVUTSRQ9876543210"
ADMIN = "root-key-abcdefghijklmnop01"
WIDTHS = ((1280, 800), (375, 800))


# -- helpers -----------------------------------------------------------------------------------------------------

def open_page(b, base, route):
    """Load the dashboard at base with the hash route (a new document: pages start afresh)."""
    b.get(base + "/#" + route)


def go(b, route):
    """Change the hash in the loaded page (the router's navigation, no reload)."""
    b.execute_script("location.hash = arguments[0]", route)


def wait_js(b, script, timeout=15, what=None):
    """The value of a script once it is truthy."""
    return wait_for(lambda: b.execute_script(script), timeout, 0.1, what or script)


def text_of(b, css):
    els = b.find_elements(By.CSS_SELECTOR, css)
    return els[0].text if els else ""


def shots(browser, name, docs=False):
    """Screenshots of the current page at both widths into the test's tmp_path (the wide one also in docs/)."""
    for w, h in WIDTHS:
        p = browser.screenshot(name, w, h, docs=docs and w == 1280)
        assert os.path.getsize(p) > 5000, p


def table_ids(b):
    return [int(x) for x in b.execute_script(
        "return [...document.querySelectorAll('#jobs-table tbody tr')].map(r => r.dataset.jobId)")]


def base_of(s):
    return "http://127.0.0.1:%d" % s.port


# -- the overview ----------------------------------------------------------------------------------------------

def test_overview_lists_the_stack_processes(servers, browser, tmp_path):
    s = servers(["--processes", "2", "--mules", "2", "--farm", "job-handlers:1,2"])
    b = browser.driver
    open_page(b, base_of(s), "/")
    stack = s.stack()
    wait_js(b, "return performance.getEntriesByName('muleteer:overview-rendered').length")
    first = b.execute_script("return performance.getEntriesByName('muleteer:overview-rendered')[0].startTime")
    print("overview: first render %.0f ms after navigation" % first)
    assert first < 3000
    want = {p["server_name"]: p for p in stack["processes"]}
    rows = wait_js(b, """
        const rows = [...document.querySelectorAll('#processes tbody tr')];
        return rows.length === %d && rows.map(r => [...r.cells].map(c => c.textContent));
    """ % len(want), what="the processes table")
    seen = {}
    for role, name, pid, state, uptime, respawns, handled in rows:
        seen[name] = (role, pid, state)
        assert name in want, (name, list(want))
        p = want[name]
        assert role == p["role"] and pid == str(p["pid"]) and state.startswith(p["state"]), (rows, p)
        assert respawns == str(p["respawns"])
        assert uptime != "–"
    assert set(seen) == set(want)
    assert {"master", "web", "mule"} <= {r[0] for r in seen.values()}
    # the farm with its mules, and its queue depth from /metrics
    farm = wait_js(b, "const r = document.querySelector('#farms tbody tr'); return r && [...r.cells].map(c => c.textContent)")
    assert farm[0] == "job-handlers" and "main.job-handlers.1" in farm[1] and "main.job-handlers.2" in farm[1]
    assert farm[2] == "0"
    # jobs: the counts and the chart follow them
    ids = [post_job(s, "true") for _ in range(5)]
    for jid in ids:
        wait_for(lambda: job_doc(s, jid)["state"] == "ok", 20, what="job %s to end" % jid)
    wait_js(b, "const c = document.querySelector('#job-counts [data-state=ok] .value'); return c && c.textContent === '5'",
            40, "the ok count to reach 5")
    # a respawned mule shows its respawn
    mule = want["main.job-handlers.1"]["pid"]
    os.kill(mule, 9)
    wait_for(lambda: s.by_name()["main.job-handlers.1"]["respawns"] == 1, 15, what="the mule to respawn")
    new_pid = s.by_name()["main.job-handlers.1"]["pid"]
    s.known_pids.add(new_pid)
    wait_js(b, """const r = document.querySelector('#processes tr[data-server-name="main.job-handlers.1"]');
                  return r && r.cells[5].textContent === '1' && r.cells[2].textContent === '%d'""" % new_pid,
            15, "the respawn on the page")
    assert b.execute_script("return [...document.querySelectorAll('.chart path')].length") >= 5
    # the page's reading of the Prometheus text and its quantile estimate, on figures known here
    got = b.execute_async_script(r'''
        const done = arguments[arguments.length - 1];
        import('./ui/js/pages/overview.js').then((m) => {
          const text = '# HELP muleteer_jobs Jobs\n# TYPE muleteer_jobs gauge\n' +
            'muleteer_jobs{state="new"} 3\nmuleteer_jobs{state="running"} 4\n' +
            'muleteer_farm_queue_messages{farm="a \\"b\\""} 7\n' +
            'muleteer_job_wait_seconds_bucket{le="0.1"} 5\nmuleteer_job_wait_seconds_bucket{le="1"} 10\n' +
            'muleteer_job_wait_seconds_bucket{le="+Inf"} 10\nmuleteer_job_wait_seconds_count 10\n';
          const s = m.parseMetrics(text);
          const now = [{le: 0.1, count: 5}, {le: 1, count: 10}, {le: Infinity, count: 10}];
          const before = [{le: 0.1, count: 1}, {le: 1, count: 2}, {le: Infinity, count: 2}];
          done([s.length, m.metricSum(s, 'muleteer_jobs'), m.metricSum(s, 'muleteer_jobs', {state: 'running'}),
                m.metricSum(s, 'muleteer_farm_queue_messages', {farm: 'a "b"'}),
                m.quantile(0.5, now, before), m.quantile(0.95, now, before), m.quantile(0.5, before, before)]);
        });''')
    assert got[:4] == [7, 7, 4, 7], got
    assert abs(got[4] - 0.1) < 1e-9 and abs(got[5] - 0.91) < 1e-9 and got[6] is None, got
    shots(browser, "dashboard-overview", docs=True)
    browser.assert_no_console_errors()


def test_overview_survives_a_restart_of_the_server(servers, browser, tmp_path):
    args = ["--mules", "1", "--farm", "job-handlers:1"]
    s = servers(args)
    proxy = TcpProxy("127.0.0.1", s.port)
    try:
        b = browser.driver
        b.get("http://127.0.0.1:%d/#/" % proxy.port)
        pid1 = s.by_name()["main.web.1"]["pid"]
        wait_js(b, "return document.querySelector('#processes td') && document.getElementById('conn-status').dataset.state === 'live'")
        assert s.stop() == 0
        wait_js(b, "return document.getElementById('conn-status').textContent === 'reconnecting...'", 15,
                "the page to say reconnecting")
        s2 = servers(args)
        proxy.target = ("127.0.0.1", s2.port)
        pid2 = s2.by_name()["main.web.1"]["pid"]
        assert pid2 != pid1
        wait_js(b, """const r = document.querySelector('#processes tr[data-server-name="main.web.1"]');
                      return r && r.cells[2].textContent === '%d' &&
                             document.getElementById('conn-status').dataset.state === 'live'""" % pid2,
                30, "the page to show the new stack")
        # only the refused connections of the restart are in the console
        browser.assert_no_console_errors(ignore=(r"net::ERR_", r"Failed to fetch"))
    finally:
        proxy.close()


# -- jobs -------------------------------------------------------------------------------------------------------

def test_a_job_appears_in_the_list_and_its_page_reaches_ok(servers, browser, tmp_path):
    tools = tmp_path / "tools"
    tools.mkdir()
    for name in ("sleep.yml", "echo.yml"):
        (tools / name).write_text(open(os.path.join(ROOT, "tools", name)).read())
    # more than the 64 KiB the page shows: 1..20000, a line each (108,894 bytes)
    (tools / "seq.yml").write_text('id: seq\nversion: "1"\nname: Count\ncommand: ["/usr/bin/seq", "1", "20000"]\n'
                                   'outputs:\n  - name: out\n    from: stdout\nwalltime: 60\n')
    s = servers(["--mules", "1", "--farm", "job-handlers:1", "--set", "jobs.tools-dir=%s" % tools])
    b = browser.driver
    open_page(b, base_of(s), "/jobs")
    wait_js(b, "return document.getElementById('jobs-table')")
    assert table_ids(b) == []
    jid = post_job(s, "sleep", {"seconds": 12})  # longer than the list's 5 s refresh
    # the list refreshes itself
    wait_js(b, "return document.querySelector('#jobs-table tr[data-job-id=\"%s\"]')" % jid, 15, "the job in the list")
    b.find_element(By.CSS_SELECTOR, "#jobs-table tr[data-job-id='%s'] a" % jid).click()
    wait_js(b, "return location.hash === '#/jobs/%s'" % jid)
    marker = b.execute_script("window.__noReload = 1; return 1")
    assert marker == 1
    states = set()
    def seen_ok():
        st = b.execute_script("const e = document.getElementById('job-state'); return e && e.dataset.state")
        states.add(st)
        return st == "ok"
    wait_for(seen_ok, 30, 0.1, "the page to show ok")
    assert "running" in states or "queued" in states or "new" in states, states
    assert b.execute_script("return window.__noReload") == 1  # the same document: no reload
    job = job_doc(s, jid)
    props = b.find_element(By.ID, "job-props").text
    assert job["handler"] in props and job["runner"] in props and job["external_id"] in props
    hist = b.execute_script("return [...document.querySelectorAll('#job-history tbody tr')].map(r => r.cells[1].textContent)")
    assert hist == ["new", "queued", "running", "ok"]
    assert "seconds" in b.find_element(By.ID, "job-params").text
    shots(browser, "job")

    # a job printing 106 KiB: its stdout shown (64 KiB of it), its output listed with its size, and the download saves the whole file
    jid2 = post_job(s, "seq")
    whole = "".join("%d\n" % i for i in range(1, 20001))
    assert len(whole) == 108894
    wait_for(lambda: job_doc(s, jid2)["state"] == "ok", 20)
    dl = tmp_path / "downloads"
    dl.mkdir()
    b.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(dl)})
    go(b, "/jobs/%s" % jid2)
    pre = wait_js(b, "const p = document.querySelector('#stream-stdout pre'); return p && p.textContent", 15)
    assert pre == whole[:64 * 1024]
    assert "106 KiB, the first 64 KiB shown" in text_of(b, "#stream-stdout")
    assert "106 KiB" in text_of(b, "#outputs")
    b.find_element(By.ID, "download-stdout").click()
    f = wait_for(lambda: [p for p in dl.iterdir() if p.name.endswith(".txt")], 15, what="the download")[0]
    wait_for(lambda: f.stat().st_size == len(whole), 10, what="the whole file")
    assert f.read_text() == whole
    go(b, "/jobs")
    wait_js(b, "return document.querySelector('#jobs-table tr[data-job-id=\"%s\"]')" % jid2)
    shots(browser, "jobs")
    browser.assert_no_console_errors()


def test_cancel_from_the_job_page(servers, browser, tmp_path):
    s = servers(["--mules", "1", "--farm", "job-handlers:1", "--set", "jobs.cancel-grace=1"])
    b = browser.driver
    jid = post_job(s, "sleep", {"seconds": 120})
    open_page(b, base_of(s), "/jobs/%s" % jid)
    wait_js(b, "const e = document.getElementById('job-state'); return e && e.dataset.state === 'running'", 20)
    b.find_element(By.ID, "cancel-job").click()
    # a confirmation first: "keep it" keeps it
    b.find_element(By.ID, "cancel-keep").click()
    time.sleep(0.5)
    assert job_doc(s, jid)["state"] == "running"
    b.find_element(By.ID, "cancel-job").click()
    b.find_element(By.ID, "cancel-confirm").click()
    wait_js(b, "const e = document.getElementById('job-state'); return e && e.dataset.state === 'deleted'", 20,
            "the page to show deleted")
    assert job_doc(s, jid)["state"] == "deleted"
    assert not b.find_elements(By.ID, "cancel-job")
    wait_js(b, "const p = document.querySelector('#stream-stdout pre'); return p !== null || "
               "document.querySelector('#stream-stdout').textContent.includes('B')", 15, "its stdout")
    # a job cancelled before it ran: its page asks for no stream (nothing to show, no 404 in the console)
    now = int(time.time() * 1e6)
    never = s.sql("INSERT INTO job (tool_id, tool_version, params, state, create_time, update_time, end_time)"
                  " VALUES ('sleep', '1.0', '{\"seconds\": 5}', 'deleted', ?, ?, ?) RETURNING id", (now, now, now))[0][0]
    go(b, "/jobs/%s" % never)
    wait_js(b, "const e = document.getElementById('stream-stderr'); return e && e.textContent.includes('did not run')", 15)
    assert "did not run" in text_of(b, "#stream-stdout")
    browser.assert_no_console_errors()


def insert_jobs(s, n, now_us):
    """n ended jobs straight into the database, one a second back from now_us: job k (1 = newest... ) has
    tool echo or wc, state ok/error/deleted, handler h1/h2, user alice/bob by k's residues."""
    s.sql("WITH RECURSIVE c(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM c WHERE k < ?) "
          "INSERT INTO job (tool_id, tool_version, params, state, handler, create_time, update_time, end_time, \"user\") "
          "SELECT CASE WHEN k % 2 = 0 THEN 'echo' ELSE 'wc' END, '1.0', '{}', "
          "CASE k % 3 WHEN 0 THEN 'ok' WHEN 1 THEN 'error' ELSE 'deleted' END, "
          "CASE WHEN k % 5 = 0 THEN 'h1' ELSE 'h2' END, "
          "? - (? - k) * 1000000, ? - (? - k) * 1000000, ? - (? - k) * 1000000, "
          "CASE WHEN k % 4 = 0 THEN 'alice' ELSE 'bob' END FROM c",
          (n, now_us, n, now_us, n, now_us, n))
    return s.sql("SELECT id, tool_id, state, handler, create_time, \"user\" FROM job ORDER BY id DESC")


def test_filters_and_paging_on_10000_jobs(servers, browser, tmp_path):
    s = servers(["--mules", "1", "--farm", "job-handlers:1"])
    now_us = int(time.time() * 1e6)
    rows = insert_jobs(s, 10000, now_us)
    assert len(rows) == 10000
    b = browser.driver
    open_page(b, base_of(s), "/jobs")
    wait_js(b, "return document.querySelectorAll('#jobs-table tbody tr').length === 50", 15)
    assert table_ids(b) == [r[0] for r in rows[:50]]
    first = b.execute_script("return performance.getEntriesByName('muleteer:jobs-rendered')[0].startTime")
    print("jobs list, 10,000 jobs: first render %.0f ms after navigation" % first)
    assert first < 3000
    assert "10,000" in text_of(b, "#jobs-status") or "more than" in text_of(b, "#jobs-status")

    # filters through the form: state error, tool wc
    wait_js(b, "return document.querySelector('#f-tool option[value=wc]')")  # the tools come beside the list
    Select(b.find_element(By.ID, "f-state")).select_by_value("error")
    Select(b.find_element(By.ID, "f-tool")).select_by_value("wc")
    b.find_element(By.ID, "f-handler").send_keys("h2")
    b.find_element(By.ID, "f-apply").click()
    wait_js(b, "return location.hash.includes('state=error') && location.hash.includes('tool_id=wc') && location.hash.includes('handler=h2')")
    want = [r[0] for r in rows if r[2] == "error" and r[1] == "wc" and r[3] == "h2"]
    wait_js(b, "return document.querySelector('#jobs-table tbody tr') && [...document.querySelectorAll('#jobs-table tbody tr td:nth-child(3)')].every(c => c.textContent === 'error')", 15)
    assert table_ids(b) == want[:50]

    # keyset paging: Older three times, then Newer back, Newest to the start
    pages = [table_ids(b)]
    for i in range(3):
        b.find_element(By.ID, "page-older").click()
        wait_js(b, "const r = document.querySelector('#jobs-table tbody tr'); return r && r.dataset.jobId !== '%d'" % pages[-1][0], 15)
        pages.append(table_ids(b))
    assert sum(pages, []) == want[:200]
    t0 = time.time()
    b.find_element(By.ID, "page-newer").click()
    wait_js(b, "const r = document.querySelector('#jobs-table tbody tr'); return r && r.dataset.jobId === '%d'" % pages[2][0], 15)
    assert table_ids(b) == pages[2]
    assert time.time() - t0 < 5
    b.find_element(By.ID, "page-newest").click()
    wait_js(b, "const r = document.querySelector('#jobs-table tbody tr'); return r && r.dataset.jobId === '%d'" % pages[0][0], 15)
    # the filters stayed while paging
    assert Select(b.find_element(By.ID, "f-state")).first_selected_option.get_attribute("value") == "error"

    # a deep page: the last jobs of an unfiltered list are reached by before_id (what the Older button sends)
    go(b, "/jobs?before=%d" % rows[-40][0])
    wait_js(b, "const r = document.querySelector('#jobs-table tbody tr'); return r && r.dataset.jobId === '%d'" % rows[-39][0], 15)
    assert table_ids(b) == [r[0] for r in rows[-39:]]
    assert b.find_element(By.ID, "page-older").get_attribute("disabled") is not None

    # the user and the time range, through the hash as a link would give them
    lo, hi = rows[120][4], rows[20][4]   # created_after lo (inclusive), created_before hi
    def local(us):
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(us / 1e6))
    go(b, "/jobs?user=alice&from=%s&to=%s" % (local(lo), local(hi)))
    want = [r[0] for r in rows if r[5] == "alice" and lo <= r[4] < hi]
    wait_js(b, "const r = [...document.querySelectorAll('#jobs-table tbody tr')]; return r.length === %d && r.every(x => x.cells[3].textContent === 'alice')" % len(want), 15,
            "the user and time filters")
    assert table_ids(b) == want
    assert b.find_element(By.ID, "f-user").get_attribute("value") == "alice"
    assert not b.find_elements(By.CSS_SELECTOR, "#jobs-warn .notice"), text_of(b, "#jobs-warn")
    shots(browser, "jobs-filtered")
    browser.assert_no_console_errors()


# -- API keys ---------------------------------------------------------------------------------------------------

def test_with_api_keys_a_user_sees_only_their_jobs(servers, browser, tmp_path):
    ini = write(tmp_path, "keys.ini", "[muleteer]\napi-key = %s:alice\napi-key = %s:bob\napi-key = %s:root\n"
                "admin-users = root\n" % (ALICE, BOB, ADMIN))
    s = servers(["--ini", ini, "--mules", "1", "--farm", "job-handlers:1"], start=False)
    s.api_key = ADMIN
    s.start()
    status, _, data = s.request("POST", "/api/jobs", body=json.dumps({"tool_id": "true"}),
                                headers={"X-API-Key": ALICE, "Content-Type": "application/json"})
    assert status == 201, data
    alice_job = json.loads(data)["id"]
    b = browser.driver
    # bob: the key prompt, a labelled form
    open_page(b, base_of(s), "/jobs")
    wait_js(b, "return document.getElementById('api-key-input')", 15, "the key prompt")
    label = b.find_element(By.CSS_SELECTOR, "label[for='api-key-input']").text
    assert label == "API key"
    assert "needs an API key" in text_of(b, "#key-prompt")
    # a wrong key: asked again, saying why
    b.find_element(By.ID, "api-key-input").send_keys("not-a-configured-key-0123456")
    b.find_element(By.ID, "api-key-save").click()
    wait_js(b, "const p = document.getElementById('key-prompt'); return p && p.textContent.includes('not valid')", 15)
    b.find_element(By.ID, "api-key-input").send_keys(BOB)
    b.find_element(By.ID, "api-key-save").click()
    wait_js(b, "return document.getElementById('jobs-table')", 15)
    assert BOB not in b.current_url
    assert b.execute_script("return localStorage.getItem('muleteer.apiKey')") == BOB
    assert table_ids(b) == []
    assert "no jobs" in text_of(b, "#jobs-status")
    # bob's own job is listed; alice's page is 404 for him
    status, _, data = s.request("POST", "/api/jobs", body=json.dumps({"tool_id": "true"}),
                                headers={"X-API-Key": BOB, "Content-Type": "application/json"})
    bob_job = json.loads(data)["id"]
    wait_js(b, "return document.querySelector('#jobs-table tr[data-job-id=\"%s\"]')" % bob_job, 15)
    assert table_ids(b) == [int(bob_job)]
    go(b, "/jobs/%s" % alice_job)
    err = wait_js(b, "const e = document.querySelector('#job-top .error-banner'); return e && e.textContent", 15)
    assert "no such job %s" % alice_job in err
    # the overview: no stack for a non-admin, a note, and his counts only
    go(b, "/")
    wait_js(b, "return document.querySelector('#overview-note .notice')", 15)
    assert "not an admin" in text_of(b, "#overview-note")
    wait_js(b, "const c = document.querySelector('#job-counts [data-state=ok] .value'); return c && c.textContent === '1'", 15)
    assert not b.find_element(By.ID, "h-proc").is_displayed()
    shots(browser, "overview-non-admin")
    # the expected refusals (401 before the key, 403 stack and metrics, 404 alice's job) are the only errors
    browser.assert_no_console_errors(ignore=(r"status of 40[134]",))
    seen = len(browser.console())
    # root sees both
    b.execute_script("localStorage.setItem('muleteer.apiKey', arguments[0])", ADMIN)
    open_page(b, base_of(s), "/jobs")
    wait_js(b, "return document.querySelectorAll('#jobs-table tbody tr').length === 2", 15)
    assert sorted(table_ids(b)) == sorted([int(alice_job), int(bob_job)])
    assert [e for e in browser.console()[seen:] if e["level"] == "SEVERE"] == []


# -- keyboard, labels, narrow screens ---------------------------------------------------------------------------

UNLABELLED = """return [...document.querySelectorAll('input, select, textarea, button')]
    .filter(e => e.offsetParent !== null && !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
                 && !(e.tagName === 'BUTTON' && e.textContent.trim()))
    .map(e => e.outerHTML)"""


LOW_CONTRAST = """
    const rgb = (s) => s.match(/[\\d.]+/g).map(Number);
    const lum = (c) => { const [r, g, b] = c.slice(0, 3).map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
                         return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
    const background = (e) => {
      for (; e; e = e.parentElement) { const c = rgb(getComputedStyle(e).backgroundColor); if (c.length < 4 || c[3] > 0) return c; }
      return [255, 255, 255];
    };
    const bad = [];
    for (const e of document.querySelectorAll('body *')) {
      if (e.closest('svg') || e.closest(':disabled') || !e.getClientRects().length) continue;
      if (![...e.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim())) continue;
      const st = getComputedStyle(e);
      if (st.visibility === 'hidden') continue;
      const a = lum(rgb(st.color)), b = lum(background(e));
      const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
      const size = parseFloat(st.fontSize), bold = Number(st.fontWeight) >= 700;
      const need = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
      if (ratio < need) bad.push(e.tagName + ' ' + e.textContent.trim().slice(0, 30) + ': ' + ratio.toFixed(2));
    }
    return bad;"""


def test_keyboard_labels_and_a_phone_width(servers, browser, tmp_path):
    from selenium.webdriver.common.keys import Keys
    s = servers(["--mules", "1", "--farm", "job-handlers:1", "--set", "jobs.cancel-grace=1"])
    jid = post_job(s, "sleep", {"seconds": 60})
    b = browser.driver
    open_page(b, base_of(s), "/")
    wait_js(b, "return document.querySelector('#processes')")
    # the first Tab reaches the skip link, which moves the focus to <main> without changing the route
    b.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
    assert b.switch_to.active_element.get_attribute("id") == "skip-link"
    assert b.switch_to.active_element.is_displayed()
    b.switch_to.active_element.send_keys(Keys.ENTER)
    wait_js(b, "return document.activeElement.id === 'main'")
    assert b.execute_script("return location.hash") == "#/"
    assert b.find_element(By.ID, "processes").is_displayed()
    # the navigation by keyboard: Tab to Jobs, Enter
    b.find_element(By.CSS_SELECTOR, "a[data-nav=overview]").send_keys(Keys.TAB)
    assert b.switch_to.active_element.get_attribute("data-nav") == "jobs"
    # the focus is visible: an outline of 3px
    assert b.execute_script("return getComputedStyle(document.activeElement).outlineWidth") == "3px"
    b.switch_to.active_element.send_keys(Keys.ENTER)
    wait_js(b, "return document.getElementById('jobs-table')")
    assert b.find_element(By.CSS_SELECTOR, "a[data-nav=jobs]").get_attribute("aria-current") == "page"
    # every control of the pages has a label (or an accessible name)
    for route, ready in (("/jobs", "#jobs-table"), ("/jobs/%s" % jid, "#cancel-job"), ("/", "#processes")):
        go(b, route)
        wait_js(b, "return document.querySelector('%s')" % ready)
        assert b.execute_script(UNLABELLED) == [], route
        # and every text is readable: WCAG AA contrast (4.5:1, 3:1 for large text)
        assert b.execute_script(LOW_CONTRAST) == [], route
    # (the check sees a grey that is too light)
    b.execute_script("const p = document.createElement('p'); p.id = 'grey'; p.style.color = '#999';"
                     "p.textContent = 'too light'; document.getElementById('main').append(p)")
    assert b.execute_script(LOW_CONTRAST) == ["P too light: 2.85"]
    b.execute_script("document.getElementById('grey').remove()")
    # at 375 px the navigation folds behind the Menu button, and the tables scroll inside their box
    b.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {"width": 375, "height": 800, "deviceScaleFactor": 1,
                                                             "mobile": True})
    try:
        wait_js(b, "return document.getElementById('nav-toggle').offsetParent !== null")
        assert not b.find_element(By.CSS_SELECTOR, "a[data-nav=jobs]").is_displayed()
        b.find_element(By.ID, "nav-toggle").click()
        assert b.find_element(By.ID, "nav-toggle").get_attribute("aria-expanded") == "true"
        b.find_element(By.CSS_SELECTOR, "a[data-nav=jobs]").click()
        wait_js(b, "return document.getElementById('jobs-table')")
        assert not b.find_element(By.CSS_SELECTOR, "a[data-nav=jobs]").is_displayed()  # folded again
        # the page itself does not scroll sideways
        assert b.execute_script("return document.documentElement.scrollWidth") <= 375
    finally:
        b.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    browser.assert_no_console_errors()


def stack_requests(s):
    """How many GET /api/stack the stack has answered (its metrics)."""
    status, _, data = s.request("GET", "/metrics")
    assert status == 200
    return sum(float(l.rsplit(" ", 1)[1]) for l in data.decode().splitlines()
               if l.startswith("muleteer_http_requests_total{") and 'route="/api/stack"' in l)


def test_the_overview_polls_every_2s_only_while_shown(servers, browser, tmp_path):
    s = servers(["--mules", "1", "--farm", "job-handlers:1"])
    b = browser.driver
    open_page(b, base_of(s), "/")
    wait_js(b, "return document.querySelector('#processes')")
    n0 = stack_requests(s)
    time.sleep(6.2)
    shown = stack_requests(s) - n0
    assert 2 <= shown <= 4, shown           # every 2 s
    # another tab in front: the overview's tab is hidden and asks nothing
    page = b.current_window_handle
    b.switch_to.new_window("tab")
    assert b.execute_script("return document.hidden") is False
    time.sleep(1)  # (a poll under way when the tab went behind ends)
    n1 = stack_requests(s)
    time.sleep(6.2)
    assert stack_requests(s) - n1 == 0
    # shown again: it asks at once
    b.switch_to.window(page)
    b.execute_cdp_cmd("Page.bringToFront", {})
    wait_js(b, "return !document.hidden", 5)
    wait_for(lambda: stack_requests(s) > n1, 3, what="a poll as soon as the page is shown")
    browser.assert_no_console_errors()
