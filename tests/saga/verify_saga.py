#!/usr/bin/env python3
"""Exhaustive saga verification on sfnd with the template's state machine and
the real bootstrap functions.

Matrix A (one sfnd per delivery mode, every case a concurrent execution):
  which booking fails (none, hotel, flight, car)
  x a booking written but its invocation failing after the write
    (none, crash after BookHotel / BookFlight / BookCar, hang after BookFlight
     until the task's TimeoutSeconds)
  x cancels failing transiently (0, 1, 3 times each)
  x every Lambda task delivered once or twice (SFN_TEST_DUPLICATE_INVOKES)
Matrix B (sfnd killed and restarted at each point of the history): for a
  success, a flight failure and a car failure whose cancels fail once, sfnd
  SIGKILLs itself just before and just after each of the execution's commits
  (SFN_TEST_CRASH_BEFORE_COMMIT / _AFTER_COMMIT), then starts again on the
  same data; the client retries StartExecution with the same name and input
  (idempotent) when its call was cut off.

After each case the invariant (DESIGN.md) is asserted from the store itself:
SUCCEEDED leaves HOTEL, FLIGHT and CAR BOOKED; FAILED leaves none BOOKED; a
step the trip never reached has no booking except a CANCELLED tombstone; no
execution is left RUNNING; every history has exactly one terminal event and
continuous ids. Timers run 10x faster (--time-scale 10) so that back-off and
the hang case's task timeout take little real time.

Usage: verify_saga.py [--quick]   (SFND, SFN_SOURCE_DIR from the environment)
"""
import itertools, json, os, signal, socket, sqlite3, subprocess, sys, tempfile, time, uuid

SRC = os.environ.get("SFN_SOURCE_DIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
SFND = os.environ.get("SFND", os.path.join(SRC, "out", "bin", "sfnd"))
SM = "arn:aws:states:us-east-1:123456789012:stateMachine:TripSagaStateMachine"
KINDS = ["HOTEL", "FLIGHT", "CAR"]
STEP = {"HOTEL": "Hotel", "FLIGHT": "Flight", "CAR": "Car"}
TERMINAL = {"ExecutionSucceeded", "ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted"}


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Server:
    def __init__(self, data, port, env=None):
        self.data, self.port, self.env = data, port, env or {}
        self.proc = None
        self.starts = 0

    def start(self):
        env = dict(os.environ)
        env.update(self.env)
        self.starts += 1
        log = open(os.path.join(self.data, "sfnd.log"), "a")
        self.proc = subprocess.Popen([SFND, "--template", os.path.join(SRC, "template.yaml"), "--data", self.data,
                                      "--port", str(self.port), "--time-scale", "10", "--quiet"],
                                     stdout=log, stderr=subprocess.STDOUT, env=env, cwd=SRC)
        deadline = time.time() + 15
        while time.time() < deadline:
            if self.proc.poll() is not None:
                return False  # died during start-up (a crash hook may fire while recovering)
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return True
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("sfnd did not start")

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def client(self):
        import boto3
        from botocore.config import Config
        return boto3.client("stepfunctions", endpoint_url=f"http://127.0.0.1:{self.port}", region_name="us-east-1",
                            aws_access_key_id="t", aws_secret_access_key="t",
                            config=Config(retries={"max_attempts": 0}, read_timeout=30, connect_timeout=2))


def trip(trip_id, **flags):
    with open(os.path.join(SRC, "events", "success.json")) as f:
        e = json.load(f)
    e["tripId"] = trip_id
    e.update(flags)
    return e


def bookings(data):
    out = {}
    tables = os.path.join(data, "tables")
    for f in os.listdir(tables):
        if f.endswith(".sqlite"):
            db = sqlite3.connect(os.path.join(tables, f), timeout=30)
            for t, k, st in db.execute("SELECT tripId, kind, status FROM bookings"):
                out.setdefault(t, {})[k] = st
            db.close()
    return out


def history(sfn, arn):
    events, kw = [], {}
    while True:
        page = sfn.get_execution_history(executionArn=arn, maxResults=1000, **kw)
        events += page["events"]
        if "nextToken" not in page:
            return events
        kw = {"nextToken": page["nextToken"]}


def check(case, desc, events, rows):
    """The invariant for one execution. Returns a list of problems."""
    bad = []
    st = desc["status"]
    if st == "RUNNING":
        return ["still RUNNING"]
    ids = [e["id"] for e in events]
    if ids != list(range(1, len(ids) + 1)):
        bad.append("history ids not continuous")
    if sum(e["type"] in TERMINAL for e in events) != 1:
        bad.append(f"{sum(e['type'] in TERMINAL for e in events)} terminal events")
    if any(e["previousEventId"] >= e["id"] for e in events):
        bad.append("previousEventId not before id")
    if st == "SUCCEEDED":
        if rows != {k: "BOOKED" for k in KINDS}:
            bad.append(f"SUCCEEDED but bookings are {rows}")
    elif st == "FAILED":
        if "BOOKED" in rows.values():
            bad.append(f"FAILED but bookings are {rows}")
    else:
        bad.append(f"status {st}")
    # a step the trip never reached: nothing, or only a CANCELLED tombstone
    entered = {e["stateEnteredEventDetails"]["name"] for e in events if e["type"] == "TaskStateEntered"}
    for k in KINDS:
        if f"Book{STEP[k]}" not in entered and rows.get(k) not in (None, "CANCELLED"):
            bad.append(f"{k} is {rows.get(k)} but Book{STEP[k]} never ran")
    want = case.get("expect")
    if want and st != want[0]:
        bad.append(f"status {st}, expected {want[0]}")
    if want and want[1] and desc.get("error") != want[1]:
        bad.append(f"error {desc.get('error')}, expected {want[1]}")
    return bad


def expected(fail, fault, cancel_n):
    """The outcome the design promises for a case."""
    order = ["HOTEL", "FLIGHT", "CAR"]
    first_fail = order.index(fail) if fail else 99
    fault_at = order.index(fault[1]) if fault else 99
    if first_fail == 99 and fault_at == 99:
        return ("SUCCEEDED", None)
    return ("FAILED", "TripBookingFailed" if cancel_n <= 5 else "CompensationFailed")


def matrix_a(dup, quick):
    fails = [None, "HOTEL", "FLIGHT", "CAR"]
    faults = [None, ("crash", "HOTEL"), ("crash", "FLIGHT"), ("crash", "CAR"), ("hang", "FLIGHT")]
    cancels = [0, 1, 3]
    if quick:
        faults, cancels = faults[:3], [0, 1]
    cases = []
    for fail, fault, n in itertools.product(fails, faults, cancels):
        flags = {}
        if fail:
            flags[f"failBook{STEP[fail]}"] = True
        if fault:
            flags[f"{fault[0]}AfterBook{STEP[fault[1]]}"] = True
        if n:
            for k in KINDS:
                flags[f"failCancel{STEP[k]}"] = n
        cases.append({"name": f"fail={fail or '-'} fault={fault and ':'.join(fault) or '-'} cancelFails={n} dup={dup}",
                      "trip": str(uuid.uuid4()), "flags": flags, "expect": expected(fail, fault, n)})
    data = tempfile.mkdtemp(prefix="saga-verify-")
    srv = Server(data, free_port(), {"SFN_TEST_DUPLICATE_INVOKES": "1"} if dup else {})
    srv.start()
    results = []
    try:
        sfn = srv.client()
        for c in cases:
            c["arn"] = sfn.start_execution(stateMachineArn=SM, name=c["trip"],
                                           input=json.dumps(trip(c["trip"], **c["flags"])))["executionArn"]
        deadline = time.time() + 240
        while time.time() < deadline:
            if not sfn.list_executions(stateMachineArn=SM, statusFilter="RUNNING", maxResults=1)["executions"]:
                break
            time.sleep(0.2)
        rows = bookings(data)
        for c in cases:
            d = sfn.describe_execution(executionArn=c["arn"])
            bad = check(c, d, history(sfn, c["arn"]), rows.get(c["trip"], {}))
            results.append((c["name"], d["status"], bad))
    finally:
        srv.stop()
    return results


def start_idempotent(srv, name, inp):
    """StartExecution that survives sfnd dying under it: retry with the same
    name and input after a restart (AWS returns the same execution)."""
    arn = f"arn:aws:states:us-east-1:123456789012:execution:TripSagaStateMachine:{name}"
    for _ in range(5):
        if not srv.alive():
            srv.env = {}
            srv.start()
        try:
            return srv.client().start_execution(stateMachineArn=SM, name=name, input=inp)["executionArn"]
        except Exception:
            time.sleep(0.1)
    return arn


def one_crash_case(flags, point, k):
    """Run one execution with sfnd killing itself at commit k (before or
    after it); restart until the execution ends. Returns (status, problems,
    crashed)."""
    data = tempfile.mkdtemp(prefix="saga-crash-")
    name = str(uuid.uuid4())
    srv = Server(data, free_port(), {f"SFN_TEST_CRASH_{point}_COMMIT": str(k)})
    try:
        if srv.start():
            # the template's state machine is registered at start-up (commit 1 or 2)
            inp = json.dumps(trip(name, **flags))
            arn = start_idempotent(srv, name, inp)
        else:
            arn = None
        deadline = time.time() + 60
        status = "RUNNING"
        while time.time() < deadline:
            if not srv.alive():
                srv.env = {}
                srv.start()
                if arn is None:
                    arn = start_idempotent(srv, name, json.dumps(trip(name, **flags)))
            try:
                d = srv.client().describe_execution(executionArn=arn)
                status = d["status"]
                if status != "RUNNING":
                    break
            except Exception:
                pass
            time.sleep(0.05)
        sfn = srv.client()
        d = sfn.describe_execution(executionArn=arn)
        case = {"expect": expected("FLIGHT" if flags.get("failBookFlight") else
                                   "CAR" if flags.get("failBookCar") else None, None,
                                   flags.get("failCancelHotel", 0))}
        bad = check(case, d, history(sfn, arn), bookings(data).get(name, {}))
        return d["status"], bad, srv.starts > 1
    finally:
        srv.stop()


def matrix_b(quick):
    scenarios = [("success", {}), ("fail-flight", {"failBookFlight": True}),
                 ("fail-car+cancel-retry", {"failBookCar": True, "failCancelHotel": 1, "failCancelFlight": 1,
                                            "failCancelCar": 1})]
    if quick:
        scenarios = scenarios[:2]
    results = []
    for label, flags in scenarios:
        for point in ("AFTER", "BEFORE"):
            k = 1
            while k < 40:
                st, bad, crashed = one_crash_case(flags, point, k)
                results.append((f"{label} sfnd killed {point.lower()} commit {k}", st, bad))
                if not crashed:
                    break  # the execution ended before commit k: every point is covered
                k += 1
    return results


def main():
    quick = "--quick" in sys.argv
    t0 = time.time()
    results = matrix_a(False, quick) + matrix_a(True, quick)
    na = len(results)
    results += matrix_b(quick)
    failed = [r for r in results if r[2]]
    for name, st, bad in results:
        print(f"{'ok  ' if not bad else 'FAIL'} {st:9} {name}" + (f"  <- {'; '.join(bad)}" if bad else ""))
    print(f"matrix A (failure x fault x cancel retries x duplicate delivery): {na} cases")
    print(f"matrix B (sfnd killed before/after each commit, restarted): {len(results) - na} cases")
    print(f"verification: {len(results)} cases in {time.time() - t0:.1f} s")
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
