"""dashboard: how fast the web dashboard first shows a page over a big job table, and what it costs while open.

(a) Time to first render. The jobs stack (2 web workers x 4 threads,
2 mules) on a database prefilled with 1,000,000 finished jobs (100,000 with
--quick; the same prefill as the growth section's), and a headless
Chromium (Debian's, driven by Selenium) started afresh for every round, so
that its cache is cold. Each round loads the Overview (`/`) and the Jobs
list (`/#/jobs`) in turn; the figure is the page's own mark
(`muleteer:overview-rendered`, `muleteer:jobs-rendered`: the first full
render, every table filled from the API) in milliseconds since the
navigation began, as the browser's performance timeline gives it. Both
pages are loaded twice a round and the second load counted: the first load
of a round includes starting the browser's renderer. Target: 300 ms.

(b) Cost while open. `wrk -t2 -c32` on `GET /api/health` with five
Overview pages open and live (five browsers, each polling its two requests
every 2 s) against none, in alternating rounds on the same server.
Target: >= 0.95x. The browsers run on the same two cores as wrk and the
server, so the ratio includes their own CPU, which is the harsher reading
(and the noisier one). So the section also reads what the five pages cost
the server itself: its process tree's CPU over 20 s with the five open and
nothing else asking, as a share of one core.

Skipped with a message when Chromium, chromedriver or python3-selenium is
missing (scripts/install-deps.sh test installs them).
"""
import os
import shutil
import tempfile
import time

from sections.common import Figure, jobs_stack_args, say, start_muleteer, stop, wrk
from sections.growth import create_schema, prefill
from sections.pgcommon import tree_cpu

IDLE_SECONDS = 20  # how long the server's CPU is read with the pages open and nothing else asking


def browser_missing():
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "python3-selenium is not installed"
    for name in ("chromium", "chromedriver"):
        if not shutil.which(name):
            return "%s is not installed" % name
    return None


def new_browser(tmp):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    # --no-sandbox: the benchmarks run as root, where Chromium's sandbox refuses to start.
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,800",
                "--disable-dev-shm-usage", "--no-first-run", "--disable-extensions",
                "--user-data-dir=" + tempfile.mkdtemp(dir=tmp)):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=shutil.which("chromedriver")), options=options)
    driver.set_page_load_timeout(60)
    return driver


def first_render(driver, url, mark):
    """Load url afresh and return the page's mark (ms since its navigation began)."""
    from selenium.webdriver.support.ui import WebDriverWait
    driver.get("about:blank")
    driver.get(url)
    WebDriverWait(driver, 60).until(
        lambda d: d.execute_script("return performance.getEntriesByName(arguments[0]).length", mark))
    return driver.execute_script("return performance.getEntriesByName(arguments[0])[0].startTime", mark)


def render_times(o, tmp, port):
    over, jobs = [], []
    for r in range(o.rounds):
        driver = new_browser(tmp)
        try:
            base = "http://127.0.0.1:%d/" % port
            for _ in range(2):  # the second load of each page is counted (see the docstring)
                ov = first_render(driver, base, "muleteer:overview-rendered")
                jl = first_render(driver, base + "#/jobs", "muleteer:jobs-rendered")
        finally:
            driver.quit()
        say("round %d: first render: overview %.0f ms, jobs list %.0f ms" % (r + 1, ov, jl))
        over.append(ov)
        jobs.append(jl)
    return over, jobs


def health_cost(o, tmp, port, server_pid):
    """/api/health req/s with five live overviews open, and with none, in alternating rounds; and the
    server's own CPU (its whole process tree) while the five pages are open and nothing else asks."""
    with_pages, without, idle_share = [], [], []
    for r in range(o.rounds):
        without.append(wrk(port, "/api/health", o.duration))
        drivers = []
        try:
            for _ in range(5):
                d = new_browser(tmp)
                drivers.append(d)
                first_render(d, "http://127.0.0.1:%d/" % port, "muleteer:overview-rendered")
            seconds = 4 if o.quick else IDLE_SECONDS
            cpu0, t0 = tree_cpu(server_pid), time.time()
            time.sleep(seconds)
            idle_share.append(100.0 * (tree_cpu(server_pid) - cpu0) / (time.time() - t0))
            with_pages.append(wrk(port, "/api/health", o.duration))
        finally:
            for d in drivers:
                d.quit()
        say("round %d: /api/health %.0f req/s with five overviews open, %.0f without; the server's CPU with "
            "the five open and nothing else: %.2f %% of a core" % (r + 1, with_pages[-1], without[-1], idle_share[-1]))
    return with_pages, without, idle_share


def run(o, tmp):
    why = browser_missing()
    if why:
        say("dashboard: skipped: %s (scripts/install-deps.sh test installs Chromium and Selenium)" % why)
        return []
    size = 100000 if o.quick else 1000000
    data_dir = tempfile.mkdtemp(dir=tmp)
    create_schema(data_dir)
    base_us = int(time.time() * 1e6) - (size + 1) * 1000 - 3600 * 1000000  # the jobs of the last hours
    took = prefill(os.path.join(data_dir, "jobs.sqlite"), data_dir, size, base_us)
    say("dashboard: prefilled %d jobs in %.1f s" % (size, took))
    os.sync()
    proc, port = start_muleteer(jobs_stack_args(data_dir, "normal"))
    try:
        over, jobs = render_times(o, tmp, port)
        with_pages, without, idle_share = health_cost(o, tmp, port, proc.pid)
    finally:
        stop(proc)
    label = "%s jobs" % "{:,}".format(size)
    return [
        Figure("dashboard: overview, first render (%s)" % label, "ms", over, target=("≤ 300 ms", "<=", 300)),
        Figure("dashboard: jobs list, first render (%s)" % label, "ms", jobs, target=("≤ 300 ms", "<=", 300)),
        Figure("dashboard: /api/health with 5 overviews open", "req/s", with_pages, without, "none open",
               target=("≥ 0.95×", "ratio>=", 0.95),
               note="the five browsers run on the same cores as wrk and the server"),
        Figure("dashboard: the server's CPU with 5 overviews open and no other load", "% of a core", idle_share,
               target=("report", None, None), digits=2),
    ]
