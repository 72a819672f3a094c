#!/usr/bin/env python3
"""`make run`: the trip-booking saga on the local engine, end to end.

For each event file: start `sfnd --template template.yaml` on a fresh data
directory and a free port on 127.0.0.1, start the execution through boto3 (the
same SDK calls as against AWS), wait for it, and print the states it passed
through (retries and compensations visible), its status, its output or
Error/Cause, and the bookings left in the store for that trip. Exits 0 only if
every outcome is the expected one and the saga invariant holds.

Each scenario gets its own store: the seed's two inputs share a tripId, and a
trip booked by one run would otherwise be seen by the next.

An event file may carry "_makeRun" (removed before the execution starts) to
make a scenario out of it: "timeScale" (sfnd's --time-scale), "parameterOverrides"
(sfnd's --parameter-overrides), "stopWhen": STATE (StopExecution once that state
is entered) and "expect": "parked" | "stopped". After the saga ends, the run
waits for every CompensateTripStateMachine execution it led to, shows them and
the alerts published, and checks the invariant: SUCCEEDED holds HOTEL, FLIGHT
and CAR BOOKED; any other end holds nothing BOOKED once compensation has run.

At the end it prints the console's pages (sfnd's browser console, issue 15):
the state machines and each execution it ran. With KEEP=1 in the
environment (`make run KEEP=1`) every scenario's sfnd keeps serving them,
each on its own port and data directory, until Ctrl-C; without it they have
stopped by then.

Usage: run_saga.py [EVENT.json ... | all]   (default: the seed's two events)
"""
import json, os, shutil, signal, socket, sqlite3, subprocess, sys, tempfile, time, urllib.parse

SAGA = "arn:aws:states:us-east-1:123456789012:stateMachine:TripSagaStateMachine"
COMPENSATOR = "arn:aws:states:us-east-1:123456789012:stateMachine:CompensateTripStateMachine"

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SFND = os.environ.get("SFND") or os.path.join(ROOT, "out", "bin", "sfnd")
SEED = ["events/success.json", "events/fail-book-flight.json"]
USE_COLOR = sys.stdout.isatty() and os.environ.get("NO_COLOR") is None
KEEP = os.environ.get("KEEP", "") not in ("", "0")
KEPT = []  # (rel, port, arn, proc, data) of each scenario whose sfnd keeps running
URLS = []  # (rel, port, arn) of each scenario run
STOP = []  # a SIGTERM came (KEEP)


def color(code, text):
    return f"\033[{code}m{text}\033[0m" if USE_COLOR else text


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_sfnd(data, run):
    port = free_port()
    log = open(os.path.join(data, "sfnd.log"), "w")
    argv = [SFND, "--template", os.path.join(ROOT, "template.yaml"), "--data", data, "--port", str(port)]
    if run.get("timeScale"):
        argv += ["--time-scale", str(run["timeScale"])]
    if run.get("parameterOverrides"):
        argv += ["--parameter-overrides"] + list(run["parameterOverrides"])
    p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    deadline = time.time() + 10
    while time.time() < deadline:
        if p.poll() is not None:
            raise SystemExit(f"sfnd exited with {p.returncode}; see {log.name}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return p, port
        except OSError:
            time.sleep(0.02)
    p.kill()
    raise SystemExit("sfnd did not start listening")


def client(port):
    import boto3
    return boto3.client("stepfunctions", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                        aws_access_key_id="local", aws_secret_access_key="local")


def history(sfn, arn):
    events, token = [], None
    while True:
        kw = {"executionArn": arn, "maxResults": 1000}
        if token:
            kw["nextToken"] = token
        page = sfn.get_execution_history(**kw)
        events += page["events"]
        token = page.get("nextToken")
        if not token:
            return events


def path_of(events):
    """The states in order, with each task's attempts and failures."""
    steps, cur = [], None
    for e in events:
        t = e["type"]
        if t.endswith("StateEntered"):
            cur = {"name": e["stateEnteredEventDetails"]["name"], "type": t[:-len("StateEntered")],
                   "fails": [], "ok": None}
            steps.append(cur)
        elif t in ("LambdaFunctionFailed", "TaskFailed", "LambdaFunctionTimedOut", "TaskTimedOut") and cur:
            d = next(v for k, v in e.items() if k.endswith("EventDetails"))
            cur["fails"].append(d.get("error", "?"))
        elif t.endswith("StateExited") and cur:
            cur["ok"] = True
    return steps


def fmt_step(s, last):
    name = s["name"]
    if s["type"] == "Task":
        if s["ok"] and not s["fails"]:
            mark = color("32", "ok")
        elif s["ok"]:
            retried = len(s["fails"])
            if name.startswith("Cancel") or retried > 1 or s["fails"][-1] != s["fails"][0]:
                mark = color("33", f"ok after {retried} failed attempt{'s' if retried > 1 else ''}"
                              f" ({', '.join(sorted(set(s['fails'])))})")
            else:
                mark = color("31", f"failed: {s['fails'][0]}")
        elif s["fails"]:
            mark = color("31", f"failed: {s['fails'][-1]}")
        else:
            mark = color("31", "interrupted")
        if name.startswith("Cancel"):
            name = color("35", name) + " (compensation)"
        return f"{name} [{mark}]"
    if s["type"] in ("Fail",):
        return color("31", name)
    if s["type"] in ("Succeed",):
        return color("32", name)
    return name


def bookings(data, trip):
    out = {}
    tables = os.path.join(data, "tables")
    for f in sorted(os.listdir(tables)) if os.path.isdir(tables) else []:
        if f.endswith(".sqlite"):
            db = sqlite3.connect(os.path.join(tables, f))
            for kind, status, owner in db.execute("SELECT kind, status, owner FROM bookings WHERE tripId = ?",
                                                  (trip,)):
                if status:
                    out[kind] = (status, owner)
            db.close()
    return out


def alerts(data):
    path = os.path.join(data, "sns", "SagaAlertsTopic.jsonl")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def wait_done(sfn, arn, t0, limit=180):
    while True:
        d = sfn.describe_execution(executionArn=arn)
        if d["status"] != "RUNNING":
            return d
        if time.time() - t0 > limit:
            raise SystemExit(f"{arn} still running after {limit} s")
        time.sleep(0.02)


def stop_when(sfn, arn, state, t0):
    """StopExecution once `state` is entered (and its task had a moment)."""
    while time.time() - t0 < 60:
        names = [e["stateEnteredEventDetails"]["name"] for e in history(sfn, arn)
                 if e["type"].endswith("StateEntered")]
        if state in names:
            time.sleep(0.3)
            sfn.stop_execution(executionArn=arn, error="TripStopped",
                               cause=f"stopped by make run while in {state}")
            return
        time.sleep(0.02)


def compensators(sfn, saga_arn, t0):
    """CompensateTripStateMachine executions for this saga execution, ended."""
    found, deadline = {}, time.time() + 120
    while time.time() < deadline:
        for e in sfn.list_executions(stateMachineArn=COMPENSATOR)["executions"]:
            if e["executionArn"] in found:
                continue
            inp = json.loads(sfn.describe_execution(executionArn=e["executionArn"]).get("input", "{}"))
            target = inp.get("executionId") or inp.get("detail", {}).get("executionArn")
            if target == saga_arn:
                found[e["executionArn"]] = wait_done(sfn, e["executionArn"], t0)
        if found and all(d["status"] != "RUNNING" for d in found.values()):
            return list(found.values())
        time.sleep(0.1)
    return list(found.values())


def run_one(path, index):
    event = json.load(open(path))
    run = event.pop("_makeRun", {})
    trip = event.get("tripId", "?")
    rel = os.path.relpath(path, ROOT)
    print(color("1", f"== {rel}") + f"  (trip {trip})")
    if run.get("about"):
        print(f"  scenario   {run['about']}")
    data = tempfile.mkdtemp(prefix="sfn-run-")
    proc, arn = None, None
    try:
        proc, port = start_sfnd(data, run)
        try:
            sfn = client(port)
            t0 = time.time()
            arn = sfn.start_execution(stateMachineArn=SAGA, name=f"{os.path.basename(path)[:-5]}-{index}",
                                      input=json.dumps(event))["executionArn"]
            if run.get("stopWhen"):
                stop_when(sfn, arn, run["stopWhen"], t0)
            d = wait_done(sfn, arn, t0)
            took = time.time() - t0
            events = history(sfn, arn)
            parked = d["status"] in ("ABORTED", "TIMED_OUT") or d.get("error") == "CompensationFailed"
            comps = compensators(sfn, arn, t0) if parked else []
            left = bookings(data, trip)
            sent = alerts(data)
        finally:
            if not KEEP:
                proc.terminate()
                proc.wait(timeout=10)
    finally:
        if KEEP and proc is not None and proc.poll() is None:
            KEPT.append((rel, port, arn, proc, data))
        else:
            shutil.rmtree(data, ignore_errors=True)
    URLS.append((rel, port, arn))
    steps = path_of(events)
    print(f"  execution  {arn}")
    print("  states     " + "\n          -> ".join(fmt_step(s, i == len(steps) - 1) for i, s in enumerate(steps)))
    st = d["status"]
    scale = f", timers {run['timeScale']}x faster" if run.get("timeScale") else ""
    print(f"  status     {color('32' if st == 'SUCCEEDED' else '31', st)}  ({took:.2f} s{scale}, {len(events)} history events)")
    if st == "SUCCEEDED":
        out = json.loads(d.get("output", "null"))
        res = out.get("results", {}) if isinstance(out, dict) else {}
        print("  output     the trip under \"trip\", and the result of each booking step:")
        for step, r in res.items():
            if isinstance(r, dict):
                det = r.get("details") or {}
                what = ", ".join(f"{k} {v}" for k, v in det.items())
                print(f"               results.{step}: {r.get('status')} ({what})")
            else:
                print(f"               results.{step}: {json.dumps(r)[:200]}")
    else:
        print(f"  error      {d.get('error')}")
        cause = d.get("cause", "")
        try:
            rep = json.loads(cause)
            comp = ", ".join(f"{k} {v.get('outcome') or v.get('Error', '?')}" for k, v in rep.get("compensations", {}).items())
            print(f"  cause      {rep.get('failedStep')} failed with {rep.get('failure', {}).get('Error')};"
                  f" compensations: {comp or '-'}; left booked: {', '.join(rep.get('leftBooked', {})) or 'nothing'}")
        except (ValueError, AttributeError):
            print(f"  cause      {cause[:400]}")
    for a in sent:
        rep = json.loads(a.get("Message", "{}"))
        print(f"  alert      SNS {a.get('Subject')!r}: trip {rep.get('tripId')}, left booked: "
              f"{', '.join(rep.get('leftBooked', {})) or 'nothing'}")
    for c in comps:
        out = json.loads(c.get("output") or "{}")
        comp = ", ".join(f"{k} {v.get('outcome') or v.get('Error', '?')}" for k, v in out.get("compensations", {}).items())
        print(f"  compensator {c['executionArn'].split(':')[-1]} ({out.get('reason', '?')}): "
              f"{color('32' if c['status'] == 'SUCCEEDED' else '31', c['status'])}  {comp}")
    shown = " ".join(f"{k}={v[0]}" + ("" if v[1] == arn else " (another execution)")
                     for k, v in sorted(left.items())) or "(none)"
    print(f"  bookings   {shown}")
    mine = {k: v[0] for k, v in left.items() if v[1] == arn}
    want = run.get("expect") or ("FAILED" if any(k.startswith("failBook") and event[k] for k in event) else "SUCCEEDED")
    if want == "SUCCEEDED":
        ok = st == "SUCCEEDED" and mine == {"HOTEL": "BOOKED", "FLIGHT": "BOOKED", "CAR": "BOOKED"}
        why = "SUCCEEDED with HOTEL, FLIGHT and CAR BOOKED"
    elif want == "parked":
        ok = (st == "FAILED" and d.get("error") == "CompensationFailed" and len(sent) >= 1 and comps
              and all(c["status"] == "SUCCEEDED" for c in comps) and "BOOKED" not in mine.values())
        why = "FAILED and parked (alert published), then the compensator cancelled what was left"
    elif want == "stopped":
        ok = (st == "ABORTED" and comps and all(c["status"] == "SUCCEEDED" for c in comps)
              and "BOOKED" not in mine.values())
        why = "ABORTED, then the compensator (EventBridge rule) cancelled everything it held"
    else:
        ok = st == "FAILED" and "BOOKED" not in mine.values()
        why = "FAILED with nothing left BOOKED"
    print("  verdict    " + (color("32", f"as expected: {why}") if ok else color("31", f"NOT as expected: want {why}")))
    print()
    return bool(ok)


def main():
    args = sys.argv[1:]
    if KEEP:  # from the start: a SIGTERM at any point still stops the kept sfnds
        signal.signal(signal.SIGTERM, lambda *a: STOP.append(1))
    if not os.path.exists(SFND):
        raise SystemExit("out/bin/sfnd is missing: run `make` first")
    if args == ["all"]:
        paths = sorted(os.path.join(ROOT, "events", f) for f in os.listdir(os.path.join(ROOT, "events"))
                       if f.endswith(".json"))
    else:
        paths = [os.path.join(ROOT, a) if not os.path.isabs(a) else a for a in (args or SEED)]
    try:
        results = [run_one(p, i) for i, p in enumerate(paths)]
        good = sum(results)
        print(color("1", f"{good} of {len(results)} scenarios ended as expected"))
        print_console()
        sys.stdout.flush()
        if KEPT:
            keep_serving()
    finally:
        stop_kept()
    return 0 if good == len(results) else 1


def console_urls(port, arn):
    base = f"http://127.0.0.1:{port}/"
    return base, base + "#/exec/" + urllib.parse.quote(arn, safe="")


def print_console():
    """The console's pages of each scenario: its state machines and its execution."""
    print()
    print(color("1", "console") + ("  (sfnd keeps serving these pages: Ctrl-C stops it)" if KEEP else
                                    "  (sfnd has stopped; `make run KEEP=1` keeps it serving these pages)"))
    for rel, port, arn in URLS:
        machines, execution = console_urls(port, arn)
        print(f"  {rel}")
        print(f"    state machines  {machines}")
        print(f"    execution       {execution}")


def keep_serving():
    """Until Ctrl-C (or SIGTERM, or one of them exits)."""
    try:
        while not STOP and all(p.poll() is None for _, _, _, p, _ in KEPT):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass


def stop_kept():
    """Stop each kept sfnd and remove its data."""
    for _, _, _, p, data in KEPT:
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
