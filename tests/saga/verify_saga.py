#!/usr/bin/env python3
"""The saga's promise, verified on sfnd with the template's two state machines
and the real bootstrap functions.

The promise (shared/DESIGN.md, docs/saga.md): an execution that SUCCEEDED
holds HOTEL, FLIGHT and CAR BOOKED, owned by it; one that ended FAILED,
ABORTED or TIMED_OUT holds nothing BOOKED once compensation has run (its own
cancels, then CompensateTripStateMachine), or its trip is parked: an alert
naming the trip and the execution was published to SagaAlertsTopic. For a
parked trip the check then plays the operator: it starts the compensator by
hand with {tripId, executionId} (the failure has "cleared": no injection
flags) and checks again that nothing is left BOOKED.

After every case the invariant is read from the store itself (the bookings
table in the data directory, or DynamoDB), once no execution of either
machine is running, together with the history's shape (continuous ids, one
terminal event) and the outcome the case expects.

Phases (each its own sfnd, timers 10x faster, test hooks on):
  A  booking failure x booking fault (none, crash after the write) x cancel
     failures (none; once each; differently per kind: 1, 3 and 9 attempts, the
     last beyond the saga's 7 so it parks and the compensator finishes; for
     good: parked, compensator gives up too, operator clears), all concurrent,
     delivered once and (a second sfnd) twice
  I  the caller's input: the saga's own keys in it change nothing, an input
     without a string tripId is refused before anything is booked; with
     FaultInjection=off every failure switch is refused by the first step
  T  timeouts: every book (hangs after its write) and every cancel (its first
     attempt hangs) times out at least once
  O  ownership: two executions of one trip one after another (each outcome of
     the first x each outcome of the second) and concurrently; an unnamed
     StartExecution retried; every booking request of a compensated execution
     delivered again late (Lambda Invoke API), which must change nothing
  S  StopExecution in every task state (each book, each cancel, a retry's
     back-off), then a redrive of stopped and parked executions
  X  an execution-level timeout (the saga with TimeoutSeconds 20, i.e. 2 s)
     in a book, in a cancel and in a retry, and a redrive of one
  K  sfnd SIGKILLed just before and just after each commit of an execution,
     restarted on the same data: success, a flight failure, a car failure with
     cancel retries, a crash after BookFlight, and a flight failure delivered
     twice

  Z  (DynamoDB only) a wrong secret and a role without dynamodb:UpdateItem:
     the function fails with StoreUnavailable naming AWS's error code, and
     nothing is written

Usage: verify_saga.py [--quick] [--store dynamodb] [--phases AOTSXK]
  (SFND, SFN_SOURCE_DIR from the environment). --store dynamodb runs phases
  Z, A (delivered once), O, T and S with the functions on DynamoDB served by
  moto with SigV4 and IAM checks on, through an assumed role's temporary
  credentials (dynamodb_env.py).
"""
import argparse, copy, itertools, json, os, shutil, signal, socket, sqlite3, subprocess, sys, tempfile
import time, uuid

SRC = os.environ.get("SFN_SOURCE_DIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
SFND = os.environ.get("SFND", os.path.join(SRC, "out", "bin", "sfnd"))
ACCOUNT = "123456789012"
SAGA = f"arn:aws:states:us-east-1:{ACCOUNT}:stateMachine:TripSagaStateMachine"
COMP = f"arn:aws:states:us-east-1:{ACCOUNT}:stateMachine:CompensateTripStateMachine"
KINDS = ["HOTEL", "FLIGHT", "CAR"]
STEP = {"HOTEL": "Hotel", "FLIGHT": "Flight", "CAR": "Car"}
TERMINAL = {"ExecutionSucceeded", "ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted"}
SAGA_CANCEL_ATTEMPTS = 7  # the saga's cancel: 1 + 6 retries


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Server:
    """One sfnd on a data directory of its own."""

    def __init__(self, env=None, template=None, store=None, overrides=()):
        self.data = tempfile.mkdtemp(prefix="saga-verify-")
        self.port = free_port()
        self.env = env or {}
        self.template = template or os.path.join(SRC, "template.yaml")
        self.store = store  # None: SQLite in the data dir; else a DynamoDB reader
        self.overrides = list(overrides)
        self.proc = None
        self.starts = 0

    def start(self):
        env = dict(os.environ)
        env.update(self.env)
        self.starts += 1
        log = open(os.path.join(self.data, "sfnd.log"), "a")
        argv = [SFND, "--template", self.template, "--data", self.data, "--port", str(self.port),
                "--time-scale", "10", "--max-procs", "48", "--quiet",
                "--parameter-overrides", "TestHooks=on"] + self.overrides
        if self.store is not None:
            argv += ["--env-vars", self.store.env_file]
        self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=SRC)
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
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.data, ignore_errors=True)

    def _cfg(self):
        from botocore.config import Config
        return Config(retries={"max_attempts": 0}, read_timeout=60, connect_timeout=2)

    def client(self):
        import boto3
        return boto3.client("stepfunctions", endpoint_url=f"http://127.0.0.1:{self.port}", region_name="us-east-1",
                            aws_access_key_id="t", aws_secret_access_key="t", config=self._cfg())

    def lam(self):
        import boto3
        return boto3.client("lambda", endpoint_url=f"http://127.0.0.1:{self.port}", region_name="us-east-1",
                            aws_access_key_id="t", aws_secret_access_key="t", config=self._cfg())

    def bookings(self):
        """{tripId: {kind: (status, owner)}} from the store itself."""
        if self.store is not None:
            return self.store.bookings()
        out = {}
        tables = os.path.join(self.data, "tables")
        for f in os.listdir(tables):
            if f.endswith(".sqlite"):
                db = sqlite3.connect(os.path.join(tables, f), timeout=30)
                for t, k, st, owner in db.execute("SELECT tripId, kind, status, owner FROM bookings"):
                    if st:
                        out.setdefault(t, {})[k] = (st, owner)
                db.close()
        return out

    def alerts(self):
        path = os.path.join(self.data, "sns", "SagaAlertsTopic.jsonl")
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return [json.loads(json.loads(line)["Message"]) for line in f if line.strip()]


def trip(trip_id, **flags):
    with open(os.path.join(SRC, "events", "success.json")) as f:
        e = json.load(f)
    e["tripId"] = trip_id
    e.update(flags)
    return e


def history(sfn, arn):
    events, kw = [], {}
    while True:
        page = sfn.get_execution_history(executionArn=arn, maxResults=1000, **kw)
        events += page["events"]
        if "nextToken" not in page:
            return events
        kw = {"nextToken": page["nextToken"]}


def running(sfn):
    return any(sfn.list_executions(stateMachineArn=m, statusFilter="RUNNING", maxResults=1)["executions"]
               for m in (SAGA, COMP))


def quiesce(sfn, limit=240):
    deadline = time.time() + limit
    while time.time() < deadline:
        if not running(sfn):
            return True
        time.sleep(0.2)
    return False


def compensators(sfn, arn):
    """CompensateTripStateMachine executions about saga execution arn."""
    out = []
    for e in sfn.list_executions(stateMachineArn=COMP, maxResults=1000)["executions"]:
        d = sfn.describe_execution(executionArn=e["executionArn"])
        inp = json.loads(d.get("input") or "{}")
        if inp.get("executionId") == arn or inp.get("detail", {}).get("executionArn") == arn:
            out.append(d)
    return out


def wait_done(sfn, arn, limit=120):
    deadline = time.time() + limit
    while time.time() < deadline:
        d = sfn.describe_execution(executionArn=arn)
        if d["status"] != "RUNNING":
            return d
        time.sleep(0.05)
    return sfn.describe_execution(executionArn=arn)


def history_problems(events):
    bad = []
    ids = [e["id"] for e in events]
    if ids != list(range(1, len(ids) + 1)):
        bad.append("history ids not continuous")
    # one terminal event per run: the first and each redrive
    n = sum(e["type"] in TERMINAL for e in events)
    runs = 1 + sum(e["type"] == "ExecutionRedriven" for e in events)
    if n != runs or not events or events[-1]["type"] not in TERMINAL:
        bad.append(f"{n} terminal events for {runs} runs")
    if any(e["previousEventId"] >= e["id"] for e in events):
        bad.append("previousEventId not before id")
    return bad


def invariant(srv, sfn, arn, trip_id, operator=True):
    """The promise for one ended execution. Returns (problems, note)."""
    d = sfn.describe_execution(executionArn=arn)
    st = d["status"]
    if st == "RUNNING":
        return ["still RUNNING"], ""
    bad = history_problems(history(sfn, arn))
    rows = srv.bookings().get(trip_id, {})
    mine = {k: s for k, (s, owner) in rows.items() if owner == arn}
    note = ""
    if st == "SUCCEEDED":
        if mine != {k: "BOOKED" for k in KINDS}:
            bad.append(f"SUCCEEDED but holds {mine}")
        return bad, note
    if "BOOKED" not in mine.values():
        return bad, note
    parked = [a for a in srv.alerts() if a.get("executionId") == arn and a.get("tripId") == trip_id]
    if not parked:
        return bad + [f"{st} holds {mine} and was not parked (no alert)"], note
    if not operator:
        return bad, "parked"
    # the operator, once the failure has cleared: the compensator by hand
    c = sfn.start_execution(stateMachineArn=COMP, input=json.dumps({"tripId": trip_id, "executionId": arn}))
    cd = wait_done(sfn, c["executionArn"])
    rows = srv.bookings().get(trip_id, {})
    mine = {k: s for k, (s, owner) in rows.items() if owner == arn}
    if cd["status"] != "SUCCEEDED" or "BOOKED" in mine.values():
        bad.append(f"parked, then the operator's compensator ended {cd['status']} leaving {mine}")
    return bad, "parked, cleared by the operator"


def expect_problems(d, expect):
    if not expect:
        return []
    bad = []
    if expect[0] and d["status"] != expect[0]:
        bad.append(f"status {d['status']}, expected {expect[0]}")
    if len(expect) > 1 and expect[1] and d.get("error") != expect[1]:
        bad.append(f"error {d.get('error')}, expected {expect[1]}")
    return bad


def check_cases(srv, sfn, cases, results):
    """Wait for quiescence, then check each started case."""
    if not quiesce(sfn):
        results.append(("(phase) quiescence", "RUNNING", ["executions still running after 240 s"]))
    for c in cases:
        d = sfn.describe_execution(executionArn=c["arn"])
        bad, note = invariant(srv, sfn, c["arn"], c["trip"])
        bad += expect_problems(d, c.get("expect"))
        if c.get("compensator") and not compensators(sfn, c["arn"]):
            bad.append("no CompensateTripStateMachine execution was started for it")
        results.append((c["name"] + (f" [{note}]" if note else ""), d["status"], bad))


# ---- phase A: failures x faults x cancel failures ----------------------------------------------------------

CANCEL_MODES = {
    "none": {},
    "once": {f"failCancel{STEP[k]}": 1 for k in KINDS},
    "per-kind": {"failCancelHotel": 1, "failCancelFlight": 3, "failCancelCar": 9},
    "for-good": {"failCancelHotel": True, "failCancelFlight": 2},
}


def gives_up(mode, kind):
    v = CANCEL_MODES[mode].get(f"failCancel{STEP[kind]}")
    return v is True or (isinstance(v, int) and v >= SAGA_CANCEL_ATTEMPTS)


def expected_a(fail, fault, mode, dup):
    first = min([KINDS.index(fail)] if fail else [] + [KINDS.index(fault[1])] if fault else [99])
    if fail and fault:
        first = min(KINDS.index(fail), KINDS.index(fault[1]))
    if first == 99:
        return ("SUCCEEDED", None)
    if dup:
        return ("FAILED", None)  # a duplicate delivery counts cancel attempts twice
    compensated = KINDS[:first + 1]
    return ("FAILED", "CompensationFailed" if any(gives_up(mode, k) for k in compensated) else "TripBookingFailed")


def phase_a(dup, quick, store=None):
    fails = [None, "HOTEL", "FLIGHT", "CAR"]
    faults = [None, ("crash", "HOTEL"), ("crash", "FLIGHT"), ("crash", "CAR")]
    modes = list(CANCEL_MODES)
    if quick or dup:
        faults, modes = [None, ("crash", "FLIGHT")], ["none", "per-kind", "for-good"]
    cases = []
    for fail, fault, mode in itertools.product(fails, faults, modes):
        flags = dict(CANCEL_MODES[mode])
        if fail:
            flags[f"failBook{STEP[fail]}"] = True
        if fault:
            flags[f"{fault[0]}AfterBook{STEP[fault[1]]}"] = True
        cases.append({"name": f"A fail={fail or '-'} fault={fault and ':'.join(fault) or '-'} cancels={mode}"
                              f" dup={int(dup)}", "trip": str(uuid.uuid4()), "flags": flags,
                      "expect": expected_a(fail, fault, mode, dup)})
    return run_concurrent(cases, {"SFN_TEST_DUPLICATE_INVOKES": "1"} if dup else {}, store)


def run_concurrent(cases, env, store=None, template=None):
    srv = Server(env, template=template, store=store)
    srv.start()
    results = []
    try:
        sfn = srv.client()
        for c in cases:
            c["arn"] = sfn.start_execution(stateMachineArn=SAGA, name=c["trip"],
                                           input=json.dumps(trip(c["trip"], **c["flags"])))["executionArn"]
        check_cases(srv, sfn, cases, results)
    finally:
        srv.cleanup()
    return results


# ---- phase T: timeouts in every book and every cancel -----------------------------------------------------

def phase_t(store=None):
    cases = []
    for k in KINDS:
        # the book lands, then its invocation hangs: every attempt times out
        # (States.Timeout, retried), then the saga compensates it
        cases.append({"name": f"T {k} book times out after its write", "trip": str(uuid.uuid4()),
                      "flags": {f"hangAfterBook{STEP[k]}": True}, "expect": ("FAILED", "TripBookingFailed")})
        # a cancel's first attempt hangs: it times out and the retry cancels
        cases.append({"name": f"T {k} cancel times out once", "trip": str(uuid.uuid4()),
                      "flags": {"failBookCar": True, f"hangCancel{STEP[k]}": 1},
                      "expect": ("FAILED", "TripBookingFailed")})
    cases.append({"name": "T every cancel times out once, after BookCar timed out", "trip": str(uuid.uuid4()),
                  "flags": {"hangAfterBookCar": True, "hangCancelHotel": 1, "hangCancelFlight": 1,
                            "hangCancelCar": 1}, "expect": ("FAILED", "TripBookingFailed")})
    return run_concurrent(cases, {}, store)


# ---- phase O: ownership ------------------------------------------------------------------------------------

FIRST = {"succeeded": {}, "compensated": {"failBookFlight": True},
         "parked": {"failBookCar": True, "failCancelHotel": True}}
SECOND = {"success": {}, "failBookCar": {"failBookCar": True}, "failBookHotel": {"failBookHotel": True}}


def start(sfn, trip_id, flags, name=None):
    kw = {"name": name} if name else {}
    return sfn.start_execution(stateMachineArn=SAGA, input=json.dumps(trip(trip_id, **flags)), **kw)["executionArn"]


def phase_o(store=None):
    srv = Server(store=store)
    srv.start()
    results = []
    try:
        sfn = srv.client()
        # one after another: the first ends (and its compensation runs), then the second
        seq = []
        for (fn, ff), (sn, sf) in itertools.product(FIRST.items(), SECOND.items()):
            t = str(uuid.uuid4())
            seq.append({"trip": t, "first": start(sfn, t, ff), "fn": fn, "sn": sn, "sf": sf})
        quiesce(sfn)
        for c in seq:
            bad, note = invariant(srv, sfn, c["first"], c["trip"], operator=False)
            c["first_bad"], c["first_note"] = bad, note
            c["second"] = start(sfn, c["trip"], c["sf"])
        quiesce(sfn)
        for c in seq:
            d2 = sfn.describe_execution(executionArn=c["second"])
            bad = list(c["first_bad"])
            if c["fn"] in ("succeeded", "parked"):
                # the first still holds the hotel: the second is refused at BookHotel
                want = ("FAILED", "TripBookingFailed")
                cause = json.loads(d2.get("cause") or "{}")
                if cause.get("failure", {}).get("Error") != "BookingConflict" and c["sn"] != "failBookHotel":
                    bad.append(f"second failed with {cause.get('failure', {}).get('Error')}, expected BookingConflict")
            else:
                want = ("SUCCEEDED", None) if c["sn"] == "success" else ("FAILED", "TripBookingFailed")
            bad += expect_problems(d2, want)
            b2, note2 = invariant(srv, sfn, c["second"], c["trip"])
            bad += [f"second: {x}" for x in b2]
            # the first's promise still holds after the second ran
            b1, _ = invariant(srv, sfn, c["first"], c["trip"])
            bad += [f"first, after the second: {x}" for x in b1]
            results.append((f"O one after another: first {c['fn']}, then {c['sn']}", d2["status"], bad))
        # concurrently: both start at once on one trip
        pairs = [("success", "success"), ("success", "failBookCar"), ("success", "failBookHotel"),
                 ("failBookCar", "failBookCar")]
        conc = []
        for a, b in pairs:
            t = str(uuid.uuid4())
            conc.append({"trip": t, "a": a, "b": b, "arns": [start(sfn, t, SECOND[a]), start(sfn, t, SECOND[b])]})
        # an unnamed StartExecution retried by its client: two executions, one input
        for i in range(2):
            t = str(uuid.uuid4())
            inp = json.dumps(trip(t))
            arns = [sfn.start_execution(stateMachineArn=SAGA, input=inp)["executionArn"] for _ in range(2)]
            conc.append({"trip": t, "a": "unnamed retry", "b": "unnamed retry", "arns": arns})
        quiesce(sfn)
        for c in conc:
            bad = []
            sts = [sfn.describe_execution(executionArn=a)["status"] for a in c["arns"]]
            for a in c["arns"]:
                bad += invariant(srv, sfn, a, c["trip"])[0]
            if sts.count("SUCCEEDED") > 1:
                bad.append("both SUCCEEDED")
            if c["a"] in ("success", "unnamed retry") and c["b"] in ("success", "unnamed retry") and \
                    sts.count("SUCCEEDED") != 1:
                bad.append(f"two clean executions of one trip: {sts}, expected exactly one SUCCEEDED")
            results.append((f"O concurrently: {c['a']} and {c['b']}", "/".join(sts), bad))
        # late delivery: every booking request of a compensated execution arrives again
        lam = srv.lam()
        for fl in ({"failBookFlight": True}, {"failBookCar": True}, {"failBookCar": True, "failCancelFlight": 2}):
            t = str(uuid.uuid4())
            arn = start(sfn, t, fl)
            wait_done(sfn, arn)
            quiesce(sfn)
            before = srv.bookings().get(t, {})
            bad = invariant(srv, sfn, arn, t)[0]
            h = history(sfn, arn)
            for i, e in enumerate(h):
                if e["type"] == "LambdaFunctionScheduled" and "Book" in e["lambdaFunctionScheduledEventDetails"]["resource"]:
                    fn = e["lambdaFunctionScheduledEventDetails"]["resource"].split(":")[-1]
                    r = lam.invoke(FunctionName=fn, Payload=e["lambdaFunctionScheduledEventDetails"]["input"].encode())
                    body = json.loads(r["Payload"].read() or b"null")
                    if "FunctionError" not in r:
                        bad.append(f"late {fn} was accepted: {body}")
                    elif body.get("errorType") not in ("BookingCancelled", "BookingFailed"):
                        bad.append(f"late {fn}: {body.get('errorType')}, expected BookingCancelled")
            after = srv.bookings().get(t, {})
            if after != before:
                bad.append(f"late deliveries changed the store: {before} -> {after}")
            results.append((f"O every booking delivered again after compensation {sorted(fl)}", "FAILED", bad))
    finally:
        srv.cleanup()
    return results


# ---- phase S: StopExecution in every task state, then redrive ----------------------------------------------

def stop_in(sfn, arn, state, attempt_failed=False, limit=30):
    """Stop arn once `state` is entered (or, with attempt_failed, once one of
    its attempts failed: it then waits out its retry back-off)."""
    deadline = time.time() + limit
    while time.time() < deadline:
        h = history(sfn, arn)
        names = [e["stateEnteredEventDetails"]["name"] for e in h if e["type"].endswith("StateEntered")]
        if state in names:
            if attempt_failed and not any(e["type"] == "LambdaFunctionFailed" for e in h[-3:]):
                time.sleep(0.02)
                continue
            time.sleep(0.1)
            sfn.stop_execution(executionArn=arn, error="Stopped", cause=f"stopped in {state}")
            return True
        time.sleep(0.02)
    return False


def phase_s(store=None):
    srv = Server(store=store)
    srv.start()
    results = []
    try:
        sfn = srv.client()
        plan = [(f"Book{STEP[k]}", {f"hangAfterBook{STEP[k]}": True}, False) for k in KINDS]
        plan += [(f"Cancel{STEP[k]}", {"failBookCar": True, f"hangCancel{STEP[k]}": 1}, False) for k in KINDS]
        # a cancel that keeps failing: its back-offs (jittered, up to a minute
        # of virtual time in all) leave room to stop it between two attempts
        plan += [("CancelHotel", {"failBookFlight": True, "failCancelHotel": True}, True)]
        cases = []
        for state, flags, backoff in plan:
            t = str(uuid.uuid4())
            cases.append({"trip": t, "state": state, "backoff": backoff, "arn": start(sfn, t, flags),
                          "name": f"S StopExecution in {state}" + (" during a retry's back-off" if backoff else "")})
        for c in cases:
            if not stop_in(sfn, c["arn"], c["state"], c["backoff"]):
                c["missed"] = True
        quiesce(sfn)
        for c in cases:
            d = sfn.describe_execution(executionArn=c["arn"])
            bad, note = invariant(srv, sfn, c["arn"], c["trip"])
            bad += expect_problems(d, ("ABORTED",))
            if not compensators(sfn, c["arn"]):
                bad.append("the EventBridge rule started no compensator")
            if c.get("missed"):
                bad.append(f"never reached {c['state']}")
            results.append((c["name"], d["status"], bad))
        # redrive: a stopped execution runs again from where it stopped, does
        # not book again (RedriveRefused) and compensates
        for c in cases[:2]:
            r = sfn.redrive_execution(executionArn=c["arn"])
            d = wait_done(sfn, c["arn"])
            quiesce(sfn)
            bad = invariant(srv, sfn, c["arn"], c["trip"])[0] + expect_problems(d, ("FAILED", "TripBookingFailed"))
            cause = json.loads(d.get("cause") or "{}")
            if cause.get("failure", {}).get("Error") != "RedriveRefused":
                bad.append(f"redriven book failed with {cause.get('failure', {}).get('Error')}, expected RedriveRefused")
            results.append((f"S redrive after StopExecution in {c['state']} ({r.get('redriveDate') is not None})",
                            d["status"], bad))
        # redrive of a parked execution: it ends as it ended; the trip stays parked until cleared
        t = str(uuid.uuid4())
        arn = start(sfn, t, {"failBookFlight": True, "failCancelHotel": True})
        wait_done(sfn, arn)
        quiesce(sfn)
        bad = []
        try:
            sfn.redrive_execution(executionArn=arn)
            wait_done(sfn, arn)
        except sfn.exceptions.ExecutionNotRedrivable:
            pass
        quiesce(sfn)
        bad += invariant(srv, sfn, arn, t)[0]
        results.append(("S redrive of a parked execution", sfn.describe_execution(executionArn=arn)["status"], bad))
    finally:
        srv.cleanup()
    return results


# ---- phase X: execution-level timeout ----------------------------------------------------------------------

def short_timeout_template(seconds):
    """A copy of the project whose saga has TimeoutSeconds = seconds (the
    rest, rule and compensator included, as in template.yaml)."""
    root = tempfile.mkdtemp(prefix="saga-timeout-")
    shutil.copy(os.path.join(SRC, "template.yaml"), root)
    os.mkdir(os.path.join(root, "statemachine"))
    for f in os.listdir(os.path.join(SRC, "statemachine")):
        if not f.endswith(".asl.json"):
            continue  # statemachine/tests/: the sfn test suite
        with open(os.path.join(SRC, "statemachine", f)) as src:
            d = json.load(src)
        if f == "trip_saga.asl.json":
            d["TimeoutSeconds"] = seconds
        with open(os.path.join(root, "statemachine", f), "w") as out:
            json.dump(d, out)
    return root


def phase_x(store=None):
    root = short_timeout_template(20)  # 2 s at --time-scale 10
    try:
        cases = [
            {"name": "X execution times out in BookFlight's retries", "flags": {"hangAfterBookFlight": True}},
            {"name": "X execution times out in CancelHotel", "flags": {"failBookFlight": True, "hangCancelHotel": 3}},
            {"name": "X execution times out in a cancel's back-off", "flags": {"failBookCar": True,
                                                                                "failCancelFlight": True,
                                                                                "failCancelHotel": True}},
        ]
        for c in cases:
            c["trip"] = str(uuid.uuid4())
            c["expect"] = ("TIMED_OUT",)
            c["compensator"] = True
        srv = Server(template=os.path.join(root, "template.yaml"), store=store)
        srv.start()
        results = []
        try:
            sfn = srv.client()
            for c in cases:
                c["arn"] = start(sfn, c["trip"], c["flags"])
            check_cases(srv, sfn, cases, results)
            # a timed-out execution redriven: it does not book again
            c = cases[0]
            sfn.redrive_execution(executionArn=c["arn"])
            d = wait_done(sfn, c["arn"])
            quiesce(sfn)
            bad = invariant(srv, sfn, c["arn"], c["trip"])[0]
            results.append(("X redrive of a timed-out execution", d["status"], bad))
        finally:
            srv.cleanup()
        return results
    finally:
        shutil.rmtree(root, ignore_errors=True)


# ---- phase K: sfnd killed at every commit -------------------------------------------------------------------

def start_idempotent(srv, name, inp):
    """StartExecution that survives sfnd dying under it: retry with the same
    name and input after a restart (AWS returns the same execution)."""
    arn = f"arn:aws:states:us-east-1:{ACCOUNT}:execution:TripSagaStateMachine:{name}"
    for _ in range(5):
        if not srv.alive():
            srv.env = {k: v for k, v in srv.env.items() if not k.startswith("SFN_TEST_CRASH")}
            srv.start()
        try:
            return srv.client().start_execution(stateMachineArn=SAGA, name=name, input=inp)["executionArn"]
        except Exception:
            time.sleep(0.1)
    return arn


def one_crash_case(flags, point, k, env):
    name = str(uuid.uuid4())
    e = dict(env)
    e[f"SFN_TEST_CRASH_{point}_COMMIT"] = str(k)
    srv = Server(e)
    try:
        arn = start_idempotent(srv, name, json.dumps(trip(name, **flags))) if srv.start() else None
        deadline = time.time() + 60
        while time.time() < deadline:
            if not srv.alive():
                srv.env = {k2: v for k2, v in srv.env.items() if not k2.startswith("SFN_TEST_CRASH")}
                srv.start()
                if arn is None:
                    arn = start_idempotent(srv, name, json.dumps(trip(name, **flags)))
            try:
                sfn = srv.client()
                if sfn.describe_execution(executionArn=arn)["status"] != "RUNNING" and not running(sfn):
                    break
            except Exception:
                pass
            time.sleep(0.05)
        sfn = srv.client()
        quiesce(sfn)
        d = sfn.describe_execution(executionArn=arn)
        bad = invariant(srv, sfn, arn, name)[0]
        want = "SUCCEEDED" if not any(x.startswith(("failBook", "crashAfter")) for x in flags) else "FAILED"
        bad += expect_problems(d, (want,))
        return d["status"], bad, srv.starts > 1
    finally:
        srv.cleanup()


def phase_k(quick):
    scenarios = [("success", {}, {}), ("fail-flight", {"failBookFlight": True}, {}),
                 ("fail-car+cancel-retry", {"failBookCar": True, "failCancelHotel": 1, "failCancelFlight": 1,
                                            "failCancelCar": 1}, {}),
                 ("crash-after-book-flight", {"crashAfterBookFlight": True}, {}),
                 ("fail-flight delivered twice", {"failBookFlight": True}, {"SFN_TEST_DUPLICATE_INVOKES": "1"})]
    if quick:
        scenarios = scenarios[:2]
    results = []
    for label, flags, env in scenarios:
        for point in ("AFTER", "BEFORE"):
            k = 1
            while k < 60:
                st, bad, crashed = one_crash_case(flags, point, k, env)
                results.append((f"K {label}: sfnd killed {point.lower()} commit {k}", st, bad))
                if not crashed:
                    break  # the execution ended before commit k: every point is covered
                k += 1
    return results


# ---- phase I: what the caller sends cannot reach the saga's bookkeeping; the fault gate -----------------

HOSTILE = {"results": "oops", "compensationErrors": {"hotel": {"Error": "Fake"}}, "compensations": "x",
           "leftBooked": {"HOTEL": 1}, "failure": "z", "failedStep": 7, "report": [], "executionId": "evil",
           "redriveCount": 3}


def held_by(srv, arn):
    return {(t, k): st for t, kinds in srv.bookings().items() for k, (st, owner) in kinds.items() if owner == arn}


def phase_i(store=None):
    results = []
    srv = Server(store=store)
    srv.start()
    try:
        sfn = srv.client()
        cases = []
        for label, flags, want in [("saga's own keys in the input", HOSTILE, ("SUCCEEDED",)),
                                   ("saga's own keys in the input, BookFlight fails",
                                    dict(HOSTILE, failBookFlight=True), ("FAILED", "TripBookingFailed"))]:
            t = str(uuid.uuid4())
            cases.append({"name": f"I {label}", "trip": t, "arn": start(sfn, t, flags), "expect": want})
        check_cases(srv, sfn, cases, results)
        for label, text in [("an array", "[1, 2]"), ("a string", '"trip"'), ("tripId a number", '{"tripId": 5}'),
                            ("no tripId", json.dumps({k: v for k, v in trip("x").items() if k != "tripId"}))]:
            arn = sfn.start_execution(stateMachineArn=SAGA, input=text)["executionArn"]
            d = wait_done(sfn, arn)
            bad = expect_problems(d, ("FAILED", "InvalidTrip")) + history_problems(history(sfn, arn))
            if held_by(srv, arn):
                bad.append(f"booked {held_by(srv, arn)}")
            results.append((f"I input is {label}: refused before anything is booked", d["status"], bad))
    finally:
        srv.cleanup()
    # a deployment with FaultInjection=off refuses every failure switch up front
    srv = Server(store=store, overrides=["FaultInjection=off"])
    srv.start()
    try:
        sfn = srv.client()
        for label, flags, want in [("failBookFlight", {"failBookFlight": True}, ("FAILED", "TripBookingFailed")),
                                   ("failCancelCar", {"failCancelCar": 2}, ("FAILED", "TripBookingFailed")),
                                   ("no switch", {}, ("SUCCEEDED",))]:
            t = str(uuid.uuid4())
            arn = start(sfn, t, flags)
            d = wait_done(sfn, arn)
            quiesce(sfn)
            bad = expect_problems(d, want) + invariant(srv, sfn, arn, t)[0]
            if flags:
                cause = json.loads(d.get("cause") or "{}")
                if cause.get("failedStep") != "BookHotel" or \
                        cause.get("failure", {}).get("Error") != "FaultInjectionDisabled":
                    bad.append(f"expected BookHotel to refuse with FaultInjectionDisabled: {cause}")
                if any(st == "BOOKED" for st, _ in srv.bookings().get(t, {}).values()):
                    bad.append("something was booked")
            results.append((f"I FaultInjection=off: {label}", d["status"], bad))
    finally:
        srv.cleanup()
    return results


# ---- phase Z (DynamoDB only): what AWS refuses is reported, with AWS's code -------------------------------

def phase_z(store):
    results = []
    bad_env = {
        "wrong secret": (store.write_env(store.creds, "env-wrong-secret.json", secret="not-the-secret"),
                         ("SignatureDoesNotMatch", "InvalidSignatureException")),
        "role without dynamodb:UpdateItem": (store.write_env(store.assume("noperm"), "env-noperm.json"),
                                             ("AccessDenied", "AccessDeniedException")),
    }
    for label, (env_file, codes) in bad_env.items():
        srv = Server()
        srv.store = type("S", (), {"env_file": env_file, "bookings": store.bookings})()
        srv.start()
        try:
            t = str(uuid.uuid4())
            payload = {"trip": trip(t), "executionId": f"arn:aws:states:us-east-1:{ACCOUNT}:execution:x:{t}"}
            r = srv.lam().invoke(FunctionName="BookHotelFunction", Payload=json.dumps(payload).encode())
            body = json.loads(r["Payload"].read() or b"null")
            bad = []
            if r.get("FunctionError") is None or body.get("errorType") != "StoreUnavailable":
                bad.append(f"expected StoreUnavailable, got {body}")
            elif not any(c in body.get("errorMessage", "") for c in codes):
                bad.append(f"the message does not name AWS's code {codes}: {body.get('errorMessage')}")
            if store.bookings().get(t):
                bad.append("something was written")
            results.append((f"Z DynamoDB refuses a request ({label}): StoreUnavailable naming the code",
                            body.get("errorType", "?") if isinstance(body, dict) else "?", bad))
        finally:
            srv.cleanup()
    return results


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--store", choices=["sqlite", "dynamodb"], default="sqlite")
    ap.add_argument("--phases", default=None)
    args = ap.parse_args()
    if args.phases is None:
        args.phases = "AIOTSXK" if args.store == "sqlite" else "ZAIOTS"
    t0 = time.time()
    store = None
    if args.store == "dynamodb":
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import dynamodb_env
        store = dynamodb_env.MotoStore()
    results, counts = [], []
    try:
        for ph in args.phases:
            t = time.time()
            if ph == "A":
                r = phase_a(False, args.quick, store)
                if store is None:
                    r += phase_a(True, args.quick)
            elif ph == "T":
                r = phase_t(store)
            elif ph == "I":
                r = phase_i(store)
            elif ph == "O":
                r = phase_o(store)
            elif ph == "S":
                r = phase_s(store)
            elif ph == "X":
                r = phase_x(store)
            elif ph == "K":
                r = phase_k(args.quick) if store is None else []
            elif ph == "Z":
                r = phase_z(store) if store is not None else []
            else:
                continue
            counts.append(f"{ph}: {len(r)} cases in {time.time() - t:.1f} s")
            results += r
    finally:
        if store is not None:
            store.close()
    failed = [r for r in results if r[2]]
    for name, st, bad in results:
        print(f"{'ok  ' if not bad else 'FAIL'} {st:9} {name}" + (f"  <- {'; '.join(bad)}" if bad else ""))
    print("phases  " + "; ".join(counts))
    print(f"verification ({args.store}): {len(results)} cases in {time.time() - t0:.1f} s")
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed or not results else 0


if __name__ == "__main__":
    sys.exit(main())
