"""sfndproc.py - start an sfnd for a benchmark and wait until it answers.

Shared by bench/sfnd_bench.py, bench/history_bench.py and bench/soak.py."""
import http.client
import os
import subprocess
import time


def start_sfnd(binary, template, data, port, extra=(), tries=500, pause=0.02):
    """sfnd on 127.0.0.1:port with its output in <data>/sfnd.out; returns
    the process once /health answers 200 (exits the benchmark otherwise)."""
    args = [binary, "--template", template, "--data", data, "--port", str(port), "--quiet"]
    args += list(extra)
    log = open(os.path.join(data, "sfnd.out"), "wb")
    p = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    for _ in range(tries):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            c.request("GET", "/health")
            if c.getresponse().status == 200:
                return p
        except OSError:
            time.sleep(pause)
    p.kill()
    raise SystemExit("sfnd did not start")


def free_port():
    """A port on 127.0.0.1 free a moment ago."""
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p
