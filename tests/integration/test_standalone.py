"""A standalone (webless) process attached to a pool: no master, no HTTP, stops on SIGTERM."""
import signal
import subprocess
import time

from conftest import EXAMPLE, wait_for


def test_standalone_process_runs_the_application_and_stops_on_sigterm(tmp_path):
    p = subprocess.Popen([EXAMPLE, "--attach-to-pool", "job-handlers", "--server-name", "handler0",
                          "--instance-id", "3"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    try:
        def ready():
            line = p.stdout.readline()
            lines.append(line)
            return "standalone process ready in pool job-handlers" in line
        wait_for(ready, 10, what="the standalone process to be ready")
        log = "".join(lines)
        assert "handler0[%d]" % p.pid in log  # its log lines carry its name as given, untemplated
        assert "HTTP on" not in log
        time.sleep(0.1)
        assert p.poll() is None
        t0 = time.time()
        p.send_signal(signal.SIGTERM)
        assert p.wait(5) == 0
        assert time.time() - t0 < 2
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
