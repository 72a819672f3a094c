#!/usr/bin/env python3
"""sfnd_bench.py - saga executions per second through sfnd, with the real
bootstrap functions, the SQLite store and fsync on.

Starts its own sfnd (temporary --data) on a free port, then:
  1. invoke: the cost of one function invocation through the local Runtime
     API, as the Lambda Invoke API sees it (sequential, keep-alive), for a
     call that returns before touching the store and for a real booking;
  2. saga: C concurrent keep-alive connections (raw HTTP, no SDK) each loop
     StartExecution(TripSagaStateMachine, a fresh tripId) then
     Sfnd.WaitExecution (a long poll answered when the execution ended);
     latency is from sending StartExecution to the terminal answer.
Prints one JSON line. Usage:
  bench/sfnd_bench.py [--sfnd out/bin/sfnd] [--seconds 10] [--concurrency 64]
                      [--input success|fail] [--max-procs N] [--client c|python]
                      [--rounds N]
--rounds N measures the saga phase N times on the same sfnd and reports the
round with the median throughput (all rounds under "rounds"): the VM this
was developed on varies by +-15% from minute to minute.
The saga phase runs sfnd-load (bench/sfnd_load.c, built next to sfnd) when
it exists, else the asyncio client; cpu_ms_per_exec is the CPU time of
sfnd, of its function processes and of the client per execution, sampled
from /proc over the measured window; written_kb_per_exec what sfnd and its
functions sent to storage (/proc/PID/io), and "machine" the VM's state over
the window (idle, iowait and steal %, the disk's write rate and ms per
write): a round in a slow phase of the VM shows there, whatever the build.
"""
import argparse
import os as _os
import sys as _sys
_sys.path.insert(0, _os.path.dirname(_os.path.abspath(__file__)))
import sfndproc  # noqa: E402
import asyncio
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SM = "arn:aws:states:us-east-1:123456789012:stateMachine:TripSagaStateMachine"
TEMPLATE = os.path.join(ROOT, "template.yaml")


free_port = sfndproc.free_port


def pct(xs, q):
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def start_sfnd(binary, data, port, max_procs):
    extra = ["--max-procs", str(max_procs)] if max_procs else []
    return sfndproc.start_sfnd(binary, TEMPLATE, data, port, extra, tries=300)


CLK = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid):
    """utime+stime of pid in seconds (0 if gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
    except OSError:
        return 0.0
    rest = st[st.rindex(")") + 2:].split()
    return (int(rest[11]) + int(rest[12])) / CLK


def children(pid):
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        rest = st[st.rindex(")") + 2:].split()
        if int(rest[1]) == pid:
            out.append(int(d))
    return out


def machine():
    """Whole-machine counters: CPU ticks by kind (/proc/stat) and, summed
    over whole disks (/proc/diskstats), writes, sectors written and ms
    spent writing."""
    with open("/proc/stat") as f:
        cpu = [int(x) for x in f.readline().split()[1:9]]
    w = sec = ms = 0
    try:
        with open("/proc/diskstats") as f:
            for line in f:
                x = line.split()
                dev = x[2]
                if os.path.exists("/sys/block/%s/device" % dev):  # a disk, not a partition
                    w, sec, ms = w + int(x[7]), sec + int(x[9]), ms + int(x[10])
    except OSError:
        pass
    return cpu, w, sec, ms


def proc_write_bytes(pid):
    try:
        with open("/proc/%d/io" % pid) as f:
            for line in f:
                if line.startswith("write_bytes:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class CpuMeter:
    """CPU seconds used by sfnd, by its function processes and by the
    client between start() and stop() (processes alive at both ends); and
    the machine's state over the window, to tell a slow phase of the VM
    from a slow build: iowait and steal, the disk's write rate and time
    per write, and the bytes sfnd and its functions sent to storage."""

    def __init__(self, sfnd_pid, client_pids):
        self.sfnd = sfnd_pid
        self.clients = client_pids

    def sample(self):
        fn = children(self.sfnd)
        return {"sfnd": proc_cpu(self.sfnd),
                "functions": {p: proc_cpu(p) for p in fn},
                "client": sum(proc_cpu(p) for p in self.clients),
                "wb_sfnd": proc_write_bytes(self.sfnd),
                "wb_functions": {p: proc_write_bytes(p) for p in fn},
                "machine": machine(), "t": time.perf_counter()}

    def start(self):
        self.a = self.sample()

    def stop(self, n):
        b = self.sample()
        fn = sum(v - self.a["functions"].get(p, 0.0) for p, v in b["functions"].items())
        per = lambda x: round(x * 1000.0 / n, 3) if n else None
        wbf = sum(v - self.a["wb_functions"].get(p, 0) for p, v in b["wb_functions"].items())
        kb = lambda x: round(x / 1024.0 / n, 1) if n else None
        (c0, w0, s0, m0), (c1, w1, s1, m1) = self.a["machine"], b["machine"]
        d = [y - x for x, y in zip(c0, c1)]
        tot = sum(d) or 1
        secs = b["t"] - self.a["t"]
        return {"cpu_ms_per_exec": {"sfnd": per(b["sfnd"] - self.a["sfnd"]),
                                    "functions": per(fn),
                                    "client": per(b["client"] - self.a["client"])},
                "written_kb_per_exec": {"sfnd": kb(b["wb_sfnd"] - self.a["wb_sfnd"]),
                                        "functions": kb(wbf)},
                "machine": {"idle_pct": round(100.0 * d[3] / tot, 1),
                            "iowait_pct": round(100.0 * d[4] / tot, 1),
                            "steal_pct": round(100.0 * d[7] / tot, 1),
                            "disk_write_mb_s": round((s1 - s0) * 512 / 1048576.0 / secs, 1),
                            "disk_ms_per_write": round((m1 - m0) / max(1, w1 - w0), 2)}}


def bench_invoke(port, n):
    c = http.client.HTTPConnection("127.0.0.1", port)
    out = {}
    for label, payload in (("invoke_noop", b"{}"),
                           ("invoke_booking", None)):
        lat = []
        for i in range(n + 5):
            body = payload or json.dumps({"tripId": str(uuid.uuid4()), "hotel": "h",
                                          "checkIn": "a", "checkOut": "b"}).encode()
            t0 = time.perf_counter()
            c.request("POST", "/2015-03-31/functions/BookHotelFunction/invocations", body=body)
            r = c.getresponse()
            r.read()
            if i >= 5:  # the first calls start the warm processes
                lat.append((time.perf_counter() - t0) * 1e6)
        out[label + "_us_p50"] = round(pct(lat, 0.5))
        out[label + "_us_p99"] = round(pct(lat, 0.99))
    c.close()
    return out


async def worker(port, deadline, inp, lat, statuses):
    r, w = await asyncio.open_connection("127.0.0.1", port)

    async def call(target, body):
        data = json.dumps(body).encode()
        w.write(b"POST / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/x-amz-json-1.0\r\n" % port
                + b"X-Amz-Target: " + target.encode() + b"\r\nContent-Length: " + str(len(data)).encode()
                + b"\r\n\r\n" + data)
        head = await r.readuntil(b"\r\n\r\n")
        n = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                n = int(line.split(b":")[1])
        return json.loads(await r.readexactly(n))

    while time.perf_counter() < deadline:
        d = dict(inp)
        d["tripId"] = str(uuid.uuid4())
        t0 = time.perf_counter()
        x = await call("AWSStepFunctions.StartExecution", {"stateMachineArn": SM, "input": json.dumps(d)})
        arn = x["executionArn"]
        while True:
            res = await call("Sfnd.WaitExecution", {"executionArn": arn, "timeoutSeconds": 30})
            if res.get("status") != "RUNNING":
                break
        lat.append((time.perf_counter() - t0) * 1000)
        statuses[res["status"]] = statuses.get(res["status"], 0) + 1
    w.close()


async def bench_saga(port, seconds, conc, inp, meter):
    lat, statuses = [], {}
    # warm-up: let the pools start
    await asyncio.gather(*[worker(port, time.perf_counter() + 1.0, inp, [], {}) for _ in range(conc)])
    meter.start()
    t0 = time.perf_counter()
    await asyncio.gather(*[worker(port, t0 + seconds, inp, lat, statuses) for _ in range(conc)])
    el = time.perf_counter() - t0
    res = {"client": "python", "n": len(lat), "seconds": round(el, 2),
           "exec_per_s": round(len(lat) / el, 1),
           "p50_ms": round(pct(lat, 0.5), 2), "p99_ms": round(pct(lat, 0.99), 2), "statuses": statuses}
    res.update(meter.stop(len(lat)))
    return res


def bench_saga_c(binary, port, seconds, conc, inp, meter):
    d = dict(inp)
    d["tripId"] = "%TRIP%"
    p = subprocess.Popen([binary, "--port", str(port), "--sm", SM, "--input", json.dumps(d),
                          "--seconds", str(seconds), "--warmup", "1",
                          "--concurrency", str(conc)], stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    if line.strip() != "measure":
        p.wait()
        raise SystemExit("sfnd-load failed")
    meter.clients = []
    meter.start()
    out = p.stdout.read()
    p.wait()
    res = json.loads(out.strip().splitlines()[-1])
    m = meter.stop(res["n"])
    m["cpu_ms_per_exec"]["client"] = res.pop("client_cpu_ms_per_exec")
    res.update(m)
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sfnd", default=os.path.join(ROOT, "out", "bin", "sfnd"))
    ap.add_argument("--template", default=os.path.join(ROOT, "template.yaml"),
                    help="the template (its state machine and functions) sfnd runs")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--input", choices=["success", "fail"], default="success")
    ap.add_argument("--max-procs", type=int, default=0)
    ap.add_argument("--invokes", type=int, default=300)
    ap.add_argument("--client", choices=["c", "python"], default="c",
                    help="saga load from sfnd-load (next to sfnd, or --load) or from asyncio")
    ap.add_argument("--load", default=None, help="path of sfnd-load")
    ap.add_argument("--keep-data", action="store_true", help="leave the data directory (printed)")
    ap.add_argument("--rounds", type=int, default=1, help="saga measurements; the median one is reported")
    a = ap.parse_args()
    global TEMPLATE
    TEMPLATE = os.path.abspath(a.template)
    with open(os.path.join(ROOT, "events", "success.json" if a.input == "success" else "fail-book-flight.json")) as f:
        inp = json.load(f)
    data = tempfile.mkdtemp(prefix="sfnd-bench-")
    port = free_port()
    p = start_sfnd(a.sfnd, data, port, a.max_procs)
    try:
        res = {"input": a.input, "concurrency": a.concurrency}
        res.update(bench_invoke(port, a.invokes))
        meter = CpuMeter(p.pid, [os.getpid()])
        load = a.load or os.path.join(os.path.dirname(os.path.abspath(a.sfnd)), "sfnd-load")
        rounds = []
        for _ in range(max(1, a.rounds)):
            if a.client == "c" and os.access(load, os.X_OK):
                rounds.append(bench_saga_c(load, port, a.seconds, a.concurrency, inp, meter))
            else:
                rounds.append(asyncio.run(bench_saga(port, a.seconds, a.concurrency, inp, meter)))
        med = sorted(rounds, key=lambda r: r["exec_per_s"])[len(rounds) // 2]
        res.update(med)
        if len(rounds) > 1:
            res["rounds"] = [{"exec_per_s": r["exec_per_s"], "p50_ms": r["p50_ms"],
                              "p99_ms": r["p99_ms"]} for r in rounds]
        print(json.dumps(res), flush=True)
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()
        if a.keep_data:
            print("data: " + data, file=sys.stderr)
        else:
            shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
