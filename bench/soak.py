#!/usr/bin/env python3
"""soak.py - the trip saga at a fixed rate for a long time, against an sfnd
with a short --retention: does anything grow without bound?

Starts its own sfnd (temporary --data, free port, the real bootstraps),
then starts one saga (events/success.json with a fresh tripId) every
1/RATE s, open loop: a start is not held back by slow answers, it waits
only for a free connection among --connections keep-alive ones. Each saga
is StartExecution then the Sfnd.WaitExecution long poll; its latency runs
from the start's due time (so time spent queued for a connection counts)
to the terminal answer. Every --interval seconds one line:

  t_s  done  rate/s  p50_ms  p99_ms  max_ms  failed  rss_mb  db_mb  wal_mb  execs

rss_mb is sfnd's resident set (its function processes not included),
db_mb the size of sfnd.db on disk, wal_mb of its -wal, execs the rows in
the executions table (read-only, a second connection). At the end one
JSON line sums it up (first and last interval's RSS and database size,
the largest p99). With retention R, the database should level off after
about R plus the time the service takes to reach its steady free-page
count; RSS should level off at once.

  bench/soak.py [--sfnd out/bin/sfnd] [--minutes 10] [--rate 300]
                [--retention-s 120] [--interval 30] [--connections 64]
                [--keep-data] [--compress]
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
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SM = "arn:aws:states:us-east-1:123456789012:stateMachine:TripSagaStateMachine"
TEMPLATE = os.path.join(ROOT, "template.yaml")
COMPRESS = False


free_port = sfndproc.free_port


def pct(xs, q):
    if not xs:
        return 0.0
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def rss_mb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


def size_mb(path):
    try:
        return os.path.getsize(path) / 1e6
    except OSError:
        return 0.0


def exec_rows(db_path):
    try:
        db = sqlite3.connect("file:%s?mode=ro" % db_path, uri=True, timeout=1)
        n = db.execute("SELECT count(*) FROM executions").fetchone()[0]
        db.close()
        return n
    except sqlite3.Error:
        return -1


def start_sfnd(binary, data, port, retention_s):
    extra = ["--retention", "%.9f" % (retention_s / 86400.0)] + ([] if COMPRESS else ["--no-compress"])
    return sfndproc.start_sfnd(binary, TEMPLATE, data, port, extra, tries=300, pause=0.05)


class Conn:
    def __init__(self, port):
        self.port = port
        self.r = self.w = None

    async def call(self, target, body):
        if self.w is None:
            self.r, self.w = await asyncio.open_connection("127.0.0.1", self.port)
        data = json.dumps(body).encode()
        self.w.write(b"POST / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                     b"Content-Type: application/x-amz-json-1.0\r\nX-Amz-Target: %s\r\n"
                     b"Content-Length: %d\r\n\r\n" % (self.port, target.encode(), len(data)) + data)
        head = await self.r.readuntil(b"\r\n\r\n")
        n = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                n = int(line.split(b":")[1])
        return json.loads(await self.r.readexactly(n))


async def saga(pool, inp, due, stats):
    c = await pool.get()
    try:
        d = dict(inp)
        d["tripId"] = str(uuid.uuid4())
        x = await c.call("AWSStepFunctions.StartExecution", {"stateMachineArn": SM, "input": json.dumps(d)})
        arn = x.get("executionArn")
        status = "ERROR"
        if arn:
            while True:
                res = await c.call("Sfnd.WaitExecution", {"executionArn": arn, "timeoutSeconds": 30})
                status = res.get("status", "ERROR")
                if status != "RUNNING":
                    break
        stats["lat"].append((time.monotonic() - due) * 1000)
        if status != "SUCCEEDED":
            stats["failed"] += 1
    except (OSError, ValueError, asyncio.IncompleteReadError):
        stats["failed"] += 1
        c.w = None  # reconnect
    finally:
        pool.put_nowait(c)


async def run(a, proc, port, db_path):
    with open(os.path.join(ROOT, "events", "success.json")) as f:
        inp = json.load(f)
    pool = asyncio.Queue()
    for _ in range(a.connections):
        pool.put_nowait(Conn(port))
    stats = {"lat": [], "failed": 0}
    t0 = time.monotonic()
    end = t0 + a.minutes * 60
    next_report = t0 + a.interval
    period = 1.0 / a.rate
    k = 0
    tasks = set()
    lines = []
    print("%6s %7s %7s %7s %7s %7s %6s %7s %7s %7s %7s" % (
        "t_s", "done", "rate/s", "p50_ms", "p99_ms", "max_ms", "failed", "rss_mb", "db_mb",
        "wal_mb", "execs"), flush=True)
    last = t0
    while True:
        now = time.monotonic()
        if now >= next_report:
            lat, stats["lat"] = stats["lat"], []
            line = {"t_s": round(now - t0), "done": len(lat), "rate": len(lat) / (now - last),
                    "p50_ms": pct(lat, 0.5), "p99_ms": pct(lat, 0.99),
                    "max_ms": max(lat) if lat else 0.0, "failed": stats["failed"],
                    "rss_mb": rss_mb(proc.pid), "db_mb": size_mb(db_path),
                    "wal_mb": size_mb(db_path + "-wal"), "execs": exec_rows(db_path)}
            stats["failed"] = 0
            last = now
            lines.append(line)
            print("%6d %7d %7.1f %7.1f %7.1f %7.1f %6d %7.1f %7.1f %7.1f %7d" % (
                line["t_s"], line["done"], line["rate"], line["p50_ms"], line["p99_ms"],
                line["max_ms"], line["failed"], line["rss_mb"], line["db_mb"], line["wal_mb"],
                line["execs"]), flush=True)
            next_report += a.interval
        if now >= end:
            break
        due = t0 + k * period
        if due > now:
            await asyncio.sleep(min(due - now, max(0.0, next_report - now)))
            continue
        k += 1
        t = asyncio.ensure_future(saga(pool, inp, due, stats))
        tasks.add(t)
        t.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.wait(tasks, timeout=30)
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sfnd", default=os.path.join(ROOT, "out", "bin", "sfnd"))
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--rate", type=float, default=300, help="sagas started per second")
    ap.add_argument("--retention-s", type=float, default=120, help="sfnd --retention, in seconds")
    ap.add_argument("--interval", type=float, default=30, help="seconds per report line")
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--keep-data", action="store_true", help="leave the data directory (printed)")
    ap.add_argument("--compress", action="store_true",
                    help="payloads compressed, sfnd's default (without: --no-compress)")
    a = ap.parse_args()
    global COMPRESS
    COMPRESS = a.compress
    data = tempfile.mkdtemp(prefix="sfnd-soak-")
    port = free_port()
    proc = start_sfnd(a.sfnd, data, port, a.retention_s)
    db_path = os.path.join(data, "sfnd.db")
    try:
        lines = asyncio.run(run(a, proc, port, db_path))
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
    if lines:
        print(json.dumps({
            "minutes": a.minutes, "rate": a.rate, "retention_s": a.retention_s,
            "sagas": sum(x["done"] for x in lines), "failed": sum(x["failed"] for x in lines),
            "rss_mb_first_last": [round(lines[0]["rss_mb"], 1), round(lines[-1]["rss_mb"], 1)],
            "db_mb_first_last": [round(lines[0]["db_mb"], 1), round(lines[-1]["db_mb"], 1)],
            "db_mb_max": round(max(x["db_mb"] for x in lines), 1),
            "p99_ms_max": round(max(x["p99_ms"] for x in lines), 1),
            "exit": proc.returncode}), flush=True)
    if a.keep_data:
        print("data:", data, file=sys.stderr)
    else:
        shutil.rmtree(data, ignore_errors=True)
    return 0 if proc.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
