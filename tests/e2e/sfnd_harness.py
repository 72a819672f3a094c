"""sfnd_harness.py - start and stop sfnd for the end-to-end tests.

Each test starts its own sfnd on a free 127.0.0.1 port with a temporary
--data directory, drives it with the real clients (the AWS CLI, boto3, raw
HTTP) and stops it. Paths come from the environment set by
tests/e2e/CMakeLists.txt: SFND (the binary), SFN_SOURCE_DIR (template.yaml,
events/, statemachine/).
"""
import http.client
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time

SRC = os.environ.get("SFN_SOURCE_DIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
SFND = os.environ.get("SFND", os.path.join(SRC, "out", "bin", "sfnd"))
TEMPLATE = os.path.join(SRC, "template.yaml")
ACCOUNT = "123456789012"
REGION = "us-east-1"
SAGA_ARN = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:TripSagaStateMachine"


def fn_arn(name):
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def client_env():
    env = dict(os.environ)
    env.update({"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION,
                "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
                "AWS_PAGER": ""})
    return env


class Sfnd:
    """One sfnd process; restartable on the same data directory."""

    def __init__(self, template=TEMPLATE, time_scale=None, data=None, extra=()):
        self.template = template
        self.data = data or tempfile.mkdtemp(prefix="sfnd-e2e-")
        self.own_data = data is None
        self.port = free_port()
        self.time_scale = time_scale
        self.extra = list(extra)
        self.proc = None
        self.log = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout=15):
        args = [SFND, "--template", self.template, "--data", self.data, "--port", str(self.port), "--quiet"]
        if self.time_scale:
            args += ["--time-scale", str(self.time_scale)]
        args += self.extra
        self.log = open(os.path.join(self.data, "sfnd.out"), "ab")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, env=client_env())
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sfnd exited with {self.proc.returncode}: {self.output()}")
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
                c.request("GET", "/health")
                if c.getresponse().status == 200:
                    c.close()
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("sfnd did not start: " + self.output())

    def output(self):
        try:
            with open(os.path.join(self.data, "sfnd.out"), "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def stop(self, timeout=15):
        """SIGTERM: must drain and exit 0."""
        if self.proc is None:
            return 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            rc = -9
        self.proc = None
        self.log.close()
        return rc

    def kill(self):
        """SIGKILL: nothing committed may be lost."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None
            self.log.close()
        # the function processes are sfnd's children; SIGKILL does not take
        # them along, and they exit when their Runtime API goes away.

    def cleanup(self):
        if self.proc is not None:
            self.kill()
        if self.own_data and not os.environ.get("SFN_KEEP_DATA"):
            shutil.rmtree(self.data, ignore_errors=True)

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.cleanup()
            raise

    def __exit__(self, *exc):
        try:
            rc = self.stop()
            if exc[0] is None:
                assert rc == 0, f"sfnd exited {rc} on SIGTERM: {self.output()[-2000:]}"
        finally:
            self.cleanup()

    # ---- clients ----
    def boto(self, service="stepfunctions"):
        import boto3
        from botocore.config import Config
        return boto3.client(service, endpoint_url=self.url, region_name=REGION,
                            aws_access_key_id="test", aws_secret_access_key="test",
                            config=Config(retries={"max_attempts": 0}, read_timeout=120,
                                          inject_host_prefix=False))

    def cli(self, *args, check=True):
        """Run `aws --endpoint-url URL ARGS...`; returns (rc, parsed stdout or text, stderr)."""
        p = subprocess.run(["aws", "--endpoint-url", self.url, "--output", "json"] + list(args),
                           capture_output=True, text=True, env=client_env(), timeout=60)
        out = p.stdout
        try:
            out = json.loads(out) if out.strip() else None
        except ValueError:
            pass
        if check and p.returncode != 0:
            raise AssertionError(f"aws {' '.join(args)} failed ({p.returncode}): {p.stderr}")
        return p.returncode, out, p.stderr

    def raw(self, target, body, headers=None):
        """POST / with X-Amz-Target; body is bytes or a JSON-able object."""
        if not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        h = {"Content-Type": "application/x-amz-json-1.0"}
        if target is not None:
            h["X-Amz-Target"] = target
        h.update(headers or {})
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        c.request("POST", "/", body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        c.close()
        try:
            return r.status, json.loads(data)
        except ValueError:
            return r.status, data

    def wait_done(self, arn, timeout=60):
        """Sfnd.WaitExecution until the execution ends; returns DescribeExecution."""
        deadline = time.time() + timeout
        while True:
            st, d = self.raw("Sfnd.WaitExecution", {"executionArn": arn, "timeoutSeconds": 10})
            assert st == 200, d
            if d["status"] != "RUNNING" or time.time() > deadline:
                return d

    def bookings(self):
        """{tripId: {kind: status}} read straight from the SQLite store file."""
        out = {}
        tables = os.path.join(self.data, "tables")
        for name in os.listdir(tables) if os.path.isdir(tables) else []:
            if not name.endswith(".sqlite"):
                continue
            db = sqlite3.connect(os.path.join(tables, name), timeout=10)
            try:
                cols = [r[1] for r in db.execute("PRAGMA table_info(bookings)")]
                if not cols:
                    continue
                for row in db.execute("SELECT tripId, kind, status FROM bookings"):
                    out.setdefault(row[0], {})[row[1]] = row[2]
            finally:
                db.close()
        return out


def wait_for(pred, timeout=20):
    """pred()'s first true value, asked every 50 ms; AssertionError after timeout s."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out waiting")


def event(name):
    with open(os.path.join(SRC, "events", name)) as f:
        return f.read()


def history(sfn, arn):
    events, kw = [], {}
    while True:
        r = sfn.get_execution_history(executionArn=arn, maxResults=1000, **kw)
        events += r["events"]
        if "nextToken" not in r:
            return events
        kw["nextToken"] = r["nextToken"]


TERMINAL = {"ExecutionSucceeded", "ExecutionFailed", "ExecutionAborted", "ExecutionTimedOut"}


def check_history(events):
    """Ids 1..n, previousEventId pointing backwards, exactly one terminal
    event and it is the last. Returns a list of problems (empty = fine)."""
    problems = []
    for i, e in enumerate(events):
        if e["id"] != i + 1:
            problems.append(f"event #{i + 1} has id {e['id']}")
        prev = e.get("previousEventId", 0)
        # AWS: ExecutionStarted and the first state's entry both say 0
        if not (0 <= prev < e["id"]) or (prev == 0 and e["id"] > 2):
            problems.append(f"event {e['id']} ({e['type']}) has previousEventId {e.get('previousEventId')}")
    terminal = [e for e in events if e["type"] in TERMINAL]
    if len(terminal) != 1:
        problems.append(f"{len(terminal)} terminal events")
    elif events[-1]["type"] not in TERMINAL:
        problems.append("terminal event is not the last")
    return problems


def main(tests):
    """Run test functions in order; exit 1 on the first failure."""
    failed = 0
    for t in tests:
        t0 = time.time()
        try:
            t()
            print(f"ok   {t.__name__} ({time.time() - t0:.1f}s)", flush=True)
        except Exception as e:  # noqa: BLE001 - report and go on
            failed += 1
            import traceback
            traceback.print_exc()
            print(f"FAIL {t.__name__}: {e}", flush=True)
    sys.exit(1 if failed else 0)


FUNCTIONS = ["BookHotelFunction", "BookFlightFunction", "BookCarFunction",
             "CancelHotelFunction", "CancelFlightFunction", "CancelCarFunction"]


def saga_definition(wait_seconds=0):
    """The template's saga with the local function ARNs substituted; with
    wait_seconds, a Wait state is put in front of every booking task (the
    crash test needs executions that stay in flight)."""
    with open(os.path.join(SRC, "statemachine", "trip_saga.asl.json")) as f:
        text = f.read()
    for fn in FUNCTIONS:
        text = text.replace("${%sArn}" % fn, fn_arn(fn))
    d = json.loads(text)
    if wait_seconds:
        states = d["States"]
        for name in [n for n in list(states) if n.startswith("Book") and states[n]["Type"] == "Task"]:
            w = "WaitBefore" + name
            states[w] = {"Type": "Wait", "Seconds": wait_seconds, "Next": name}
            if d["StartAt"] == name:
                d["StartAt"] = w
            for s in states.values():
                if s.get("Next") == name and s is not states[w]:
                    s["Next"] = w
                for rule in s.get("Choices", []):
                    if rule.get("Next") == name:
                        rule["Next"] = w
    return json.dumps(d)


def trip(name="success.json", **changes):
    d = json.loads(event(name))
    d.update(changes)
    return json.dumps(d)
