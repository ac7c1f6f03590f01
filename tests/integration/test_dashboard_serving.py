"""The dashboard's files served by muleteer itself: GET / is dashboard/index.html, GET /ui/PATH is dashboard/PATH,
typed by extension, revalidated cheaply (ETag, Last-Modified, Cache-Control: no-cache, 304), confined beneath the
directory, public with API keys on (the data stays behind the keys), off with jobs.dashboard = false; and the
shipped page loads in a real browser without a console error."""
import os
import shutil
import subprocess

import pytest

from conftest import BUILD, MULETEER, ROOT, write

SHIPPED = os.path.join(ROOT, "dashboard")
KEY = "root-key-adminadminadmin0000"


def dashboard_dir(tmp_path):
    """A dashboard of our own, with a file of each type and a secret beside (not beneath) it."""
    d = tmp_path / "dash"
    (d / "js").mkdir(parents=True)
    (d / "index.html").write_text("<!doctype html><title>t</title>index\n")
    (d / "style.css").write_text("body{}\n")
    (d / "js" / "main.js").write_text("export const x = 1;\n")
    (d / "icon.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"/>\n')
    (d / "data.json").write_text("{}\n")
    (tmp_path / "secret.txt").write_text("secret\n")
    os.symlink(str(tmp_path / "secret.txt"), str(d / "link.txt"))
    return str(d)


def status_of(response):
    return int(response.split(b" ", 2)[1])


def test_root_and_ui_serve_the_directory_typed_and_revalidated(servers, tmp_path):
    d = dashboard_dir(tmp_path)
    s = servers(["--set", "jobs.dashboard-dir=" + d])
    status, headers, body = s.request("GET", "/")
    assert status == 200 and body == b"<!doctype html><title>t</title>index\n"
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert headers["Cache-Control"] == "no-cache" and headers["ETag"].startswith('"') and headers["Last-Modified"]
    for path, ctype in (("/ui/index.html", "text/html; charset=utf-8"), ("/ui/style.css", "text/css; charset=utf-8"),
                        ("/ui/js/main.js", "text/javascript; charset=utf-8"), ("/ui/icon.svg", "image/svg+xml"),
                        ("/ui/data.json", "application/json")):
        status, h, body = s.request("GET", path)
        assert status == 200 and h["Content-Type"] == ctype, (path, status, h)
        with open(os.path.join(d, path[len("/ui/"):]), "rb") as f:
            assert body == f.read()
    # a reload of an unchanged file: 304, no body; a changed file is sent again under a new ETag
    etag, modified = headers["ETag"], headers["Last-Modified"]
    status, h, body = s.request("GET", "/", headers={"If-None-Match": etag})
    assert status == 304 and body == b"" and h["ETag"] == etag
    status, _, body = s.request("GET", "/", headers={"If-None-Match": 'W/"other", ' + etag})
    assert status == 304
    status, _, body = s.request("GET", "/", headers={"If-Modified-Since": modified})
    assert status == 304 and body == b""
    status, _, body = s.request("GET", "/", headers={"If-None-Match": '"stale"', "If-Modified-Since": modified})
    assert status == 200 and body, "If-None-Match wins over If-Modified-Since"
    with open(os.path.join(d, "index.html"), "a") as f:
        f.write("more\n")
    status, h, body = s.request("GET", "/", headers={"If-None-Match": etag})
    assert status == 200 and body.endswith(b"more\n") and h["ETag"] != etag
    status, h, body = s.request("HEAD", "/ui/js/main.js")
    assert status == 200 and body == b"" and h["Content-Length"] == str(len("export const x = 1;\n"))


def test_paths_cannot_leave_the_directory(servers, tmp_path):
    d = dashboard_dir(tmp_path)
    s = servers(["--set", "jobs.dashboard-dir=" + d])
    for path in (b"/ui/../secret.txt", b"/ui/%2e%2e/secret.txt", b"/ui/%2E%2E/secret.txt", b"/ui/js/../../secret.txt",
                 b"/ui/../src/main.c", b"/ui/%2e%2e/%2e%2e/src/main.c", b"/ui//etc/passwd", b"/ui/link.txt"):
        response = s.raw(b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert status_of(response) == 403, (path, response[:200])
        assert response.split(b"\r\n\r\n", 1)[1].startswith(b'{"err_msg":"forbidden: '), response
    for path in ("/ui/missing.js", "/ui/js", "/ui/", "/ui"):
        status, _, _ = s.request("GET", path)
        assert status == 404, path
    status, _, _ = s.request("POST", "/ui/index.html")
    assert status == 404, "only GET and HEAD reach the files"


def test_the_files_are_public_the_api_keeps_its_keys(servers, tmp_path):
    ini = write(tmp_path, "keys.ini", "[muleteer]\napi-key = %s:root\nadmin-users = root\n" % KEY)
    s = servers(["--ini", ini, "--set", "jobs.dashboard-dir=" + dashboard_dir(tmp_path)], start=False)
    s.api_key = KEY
    s.start()
    assert s.request("GET", "/")[0] == 200
    assert s.request("GET", "/ui/js/main.js")[0] == 200
    assert s.request("GET", "/api/jobs")[0] == 401
    assert s.request("GET", "/api/jobs", headers={"X-API-Key": KEY})[0] == 200


def test_dashboard_off_and_a_missing_directory(servers, tmp_path):
    s = servers(["--set", "jobs.dashboard=false"])
    status, _, body = s.request("GET", "/")
    assert status == 404 and b"jobs.dashboard = false" in body, body
    assert s.request("GET", "/ui/index.html")[0] == 404
    missing = str(tmp_path / "nowhere")
    r = subprocess.run([MULETEER, "--http", "127.0.0.1:0", "--set", "jobs.data-dir=%s" % (tmp_path / "d2"),
                        "--set", "jobs.dashboard-dir=" + missing], capture_output=True, text=True, timeout=30,
                       cwd=str(tmp_path))
    assert r.returncode != 0
    assert "jobs.dashboard-dir" in r.stderr and missing in r.stderr, r.stderr
    r = subprocess.run([MULETEER, "--print-config", "--set", "jobs.data-dir=%s" % (tmp_path / "d3"),
                        "--set", "jobs.dashboard-dir=" + missing], capture_output=True, text=True, timeout=30,
                       cwd=str(tmp_path))
    assert r.returncode == 1 and "jobs.dashboard-dir" in r.stderr, r.stderr


def test_a_binary_away_from_its_dashboard_runs_and_says_where_to_point(servers, tmp_path):
    """A copy of the binary without ../dashboard beside it (and no jobs.dashboard-dir) still starts: a notice in the
    log, and GET / a 404 naming the option; the API is unaffected."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    shutil.copy(os.path.join(BUILD, "muleteer"), str(bindir / "muleteer"))
    s = servers(["--set", "jobs.tools-dir=%s" % os.path.join(ROOT, "tools")], binary=str(bindir / "muleteer"))
    status, _, body = s.request("GET", "/")
    assert status == 404 and b"jobs.dashboard-dir" in body, body
    assert "the dashboard is not served: no directory 'dashboard'" in s.log(), s.log()
    assert s.request("GET", "/api/health")[0] == 200


def test_the_shipped_dashboard_is_found_beside_the_binary(servers):
    s = servers([])
    status, headers, body = s.request("GET", "/")
    with open(os.path.join(SHIPPED, "index.html"), "rb") as f:
        assert status == 200 and body == f.read()
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    status, headers, _ = s.request("GET", "/ui/js/main.js")
    assert status == 200 and headers["Content-Type"] == "text/javascript; charset=utf-8"


def test_the_page_loads_in_a_browser_without_console_errors(servers, browser):
    s = servers([])
    driver = browser.get(s, "/")
    browser.wait(lambda d: d.execute_script("return document.readyState") == "complete", what="the page to load")
    assert driver.find_element("tag name", "main") is not None
    # the modules the page imports all came (a failed import is a console error too)
    browser.wait(lambda d: d.execute_script(
        "return performance.getEntriesByType('resource').some(e => e.name.endsWith('/ui/js/main.js'))"),
        what="main.js to be fetched")
    shot = browser.screenshot("dashboard-serving", 1280)
    assert os.path.getsize(shot) > 1000
    browser.assert_no_console_errors()


def test_the_console_check_sees_an_error(servers, browser, tmp_path):
    d = dashboard_dir(tmp_path)
    with open(os.path.join(d, "index.html"), "w") as f:
        f.write('<!doctype html><title>t</title><link rel="icon" href="data:,"><script type="module">throw new Error("boom-42")</script>\n')
    s = servers(["--set", "jobs.dashboard-dir=" + d])
    browser.get(s, "/")
    browser.wait(lambda _: any("boom-42" in e["message"] for e in browser.console()), what="the error in the console")
    with pytest.raises(AssertionError, match="boom-42"):
        browser.assert_no_console_errors()
    browser.assert_no_console_errors(ignore=("boom-42",))
    shot = browser.screenshot("console-error", 375)
    assert shot.endswith("console-error-375x800.png") and os.path.getsize(shot) > 100
