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

Usage: run_saga.py [EVENT.json ... | all]   (default: the seed's two events)
"""
import json, os, socket, sqlite3, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SFND = os.environ.get("SFND") or os.path.join(ROOT, "out", "bin", "sfnd")
SEED = ["events/success.json", "events/fail-book-flight.json"]
USE_COLOR = sys.stdout.isatty() and os.environ.get("NO_COLOR") is None


def color(code, text):
    return f"\033[{code}m{text}\033[0m" if USE_COLOR else text


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_sfnd(data):
    port = free_port()
    log = open(os.path.join(data, "sfnd.log"), "w")
    p = subprocess.Popen([SFND, "--template", os.path.join(ROOT, "template.yaml"), "--data", data,
                          "--port", str(port)], stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
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
        else:
            mark = color("31", f"failed: {s['fails'][-1] if s['fails'] else '?'}")
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
            for kind, status in db.execute("SELECT kind, status FROM bookings WHERE tripId = ?", (trip,)):
                out[kind] = status
            db.close()
    return out


def expected(event):
    fails = [k for k in event if k.startswith("failBook") and event[k]]
    return "FAILED" if fails else "SUCCEEDED"


def run_one(path, index):
    event = json.load(open(path))
    trip = event.get("tripId", "?")
    rel = os.path.relpath(path, ROOT)
    print(color("1", f"== {rel}") + f"  (trip {trip})")
    with tempfile.TemporaryDirectory(prefix="sfn-run-") as data:
        proc, port = start_sfnd(data)
        try:
            sfn = client(port)
            sm = sfn.list_state_machines()["stateMachines"][0]["stateMachineArn"]
            t0 = time.time()
            arn = sfn.start_execution(stateMachineArn=sm, name=f"{os.path.basename(path)[:-5]}-{index}",
                                      input=json.dumps(event))["executionArn"]
            while True:
                d = sfn.describe_execution(executionArn=arn)
                if d["status"] != "RUNNING":
                    break
                if time.time() - t0 > 120:
                    raise SystemExit("execution still running after 120 s")
                time.sleep(0.02)
            took = time.time() - t0
            events = history(sfn, arn)
            left = bookings(data, trip)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    steps = path_of(events)
    print(f"  execution  {arn}")
    print("  states     " + "\n          -> ".join(fmt_step(s, i == len(steps) - 1) for i, s in enumerate(steps)))
    st = d["status"]
    print(f"  status     {color('32' if st == 'SUCCEEDED' else '31', st)}  ({took:.2f} s, {len(events)} history events)")
    if st == "SUCCEEDED":
        out = json.loads(d.get("output", "null"))
        res = out.get("results", {}) if isinstance(out, dict) else {}
        print("  output     the trip's input, plus the result of each booking step:")
        for step, r in res.items():
            if isinstance(r, dict):
                det = r.get("details") or {}
                what = ", ".join(f"{k} {v}" for k, v in det.items())
                print(f"               results.{step}: {r.get('status')} ({what})")
            else:
                print(f"               results.{step}: {json.dumps(r)[:200]}")
    else:
        print(f"  error      {d.get('error')}")
        print(f"  cause      {d.get('cause', '')[:400]}")
    shown = " ".join(f"{k}={v}" for k, v in sorted(left.items())) or "(none)"
    print(f"  bookings   {shown}")
    want = expected(event)
    if want == "SUCCEEDED":
        ok = st == "SUCCEEDED" and left == {"HOTEL": "BOOKED", "FLIGHT": "BOOKED", "CAR": "BOOKED"}
        why = "SUCCEEDED with HOTEL, FLIGHT and CAR BOOKED"
    else:
        ok = st == "FAILED" and "BOOKED" not in left.values()
        why = "FAILED with nothing left BOOKED"
    print("  verdict    " + (color("32", f"as expected: {why}") if ok else color("31", f"NOT as expected: want {why}")))
    print()
    return ok


def main():
    args = sys.argv[1:]
    if not os.path.exists(SFND):
        raise SystemExit("out/bin/sfnd is missing: run `make` first")
    if args == ["all"]:
        paths = sorted(os.path.join(ROOT, "events", f) for f in os.listdir(os.path.join(ROOT, "events"))
                       if f.endswith(".json"))
    else:
        paths = [os.path.join(ROOT, a) if not os.path.isabs(a) else a for a in (args or SEED)]
    results = [run_one(p, i) for i, p in enumerate(paths)]
    good = sum(results)
    print(color("1", f"{good} of {len(results)} scenarios ended as expected"))
    return 0 if good == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
