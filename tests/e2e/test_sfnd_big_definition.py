"""test_sfnd_big_definition.py - issue 12: a large definition does not hold
the loop. CreateStateMachine, UpdateStateMachine and
ValidateStateMachineDefinition of a definition near the 1 MB limit compile
it on the API's worker thread (src/api/api_sm.c, src/loop/ev_work.c) while
sfnd goes on answering others; the machine it compiled is the one
executions use.

The check is relative, so that a slow machine does not fail it: while the
create runs, no /health answer may take more than half of the create's own
time (before, each waited for the whole compile)."""
import json
import os
import sys
import threading
import time
import http.client

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sfnd_harness import Sfnd, main  # noqa: E402

ROLE = "arn:aws:iam::123456789012:role/test"


def big_definition(target=1000000):
    """A chain of Pass states close to target bytes behind a Choice, ending
    in one that says how many there are."""
    states = {}
    n = 0
    size = 0
    while size < target - 400:
        name = "S%05d" % n
        states[name] = {"Type": "Pass", "Next": "S%05d" % (n + 1)}
        size += len(json.dumps({name: states[name]}))
        n += 1
    last = "S%05d" % n
    states[last] = {"Type": "Pass", "Result": {"states": n + 1}, "End": True}
    # every state reachable; an input with "skip" goes straight to the end
    states["C"] = {"Type": "Choice", "Default": "S00000",
                   "Choices": [{"Variable": "$.skip", "IsPresent": True, "Next": last}]}
    d = json.dumps({"StartAt": "C", "States": states}, separators=(",", ":"))
    assert len(d) <= 1048576, len(d)
    return d, n


def pings(port, stop, out):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    while not stop.is_set():
        t0 = time.monotonic()
        c.request("GET", "/health")
        r = c.getresponse()
        r.read()
        out.append(time.monotonic() - t0)
        time.sleep(0.002)
    c.close()


def timed_create(s, name, definition):
    stop, lat = threading.Event(), []
    th = threading.Thread(target=pings, args=(s.port, stop, lat))
    th.start()
    time.sleep(0.05)
    t0 = time.monotonic()
    st, body = s.raw("AWSStepFunctions.CreateStateMachine",
                     {"name": name, "definition": definition, "roleArn": ROLE})
    took = time.monotonic() - t0
    stop.set()
    th.join()
    return st, body, took, lat


def test_big_definition_off_loop():
    d, n = big_definition()
    with Sfnd() as s:
        st, body, took, lat = timed_create(s, "Big", d)
        assert st == 200, body
        worst = max(lat)
        print(f"  {len(d)} bytes, {n + 1} states: create {took * 1000:.0f} ms, "
              f"{len(lat)} pings, the slowest {worst * 1000:.1f} ms", flush=True)
        if took > 0.1:
            assert worst < took / 2, (worst, took)
        arn = body["stateMachineArn"]
        # what was compiled off the loop is what runs
        c = s.boto()
        assert c.describe_state_machine(stateMachineArn=arn)["definition"] == d
        x = c.start_execution(stateMachineArn=arn, input='{"skip": 1}')["executionArn"]
        r = s.wait_done(x)
        assert r["status"] == "SUCCEEDED" and json.loads(r["output"]) == {"states": n + 1}, r
        # validation and update take the same path
        v = c.validate_state_machine_definition(definition=d)
        assert v["result"] == "OK", v
        bad = d.replace('"End":true', '"End":false', 1)
        v = c.validate_state_machine_definition(definition=bad)
        assert v["result"] == "FAIL" and v["diagnostics"], v
        st, body = s.raw("AWSStepFunctions.UpdateStateMachine",
                         {"stateMachineArn": arn, "definition": bad})
        assert st == 400 and body["__type"] == "InvalidDefinition", body
        d2 = d.replace('"Result":{"states":', '"Result":{"updated":', 1)
        st, body = s.raw("AWSStepFunctions.UpdateStateMachine",
                         {"stateMachineArn": arn, "definition": d2})
        assert st == 200, body
        x = c.start_execution(stateMachineArn=arn, input='{"skip": 1}')["executionArn"]
        r = s.wait_done(x)
        assert json.loads(r["output"]) == {"updated": n + 1}, r
        # the same request again is idempotent; another definition is refused
        st, body = s.raw("AWSStepFunctions.CreateStateMachine",
                         {"name": "Big2", "definition": d, "roleArn": ROLE})
        assert st == 200, body
        st, again = s.raw("AWSStepFunctions.CreateStateMachine",
                          {"name": "Big2", "definition": d, "roleArn": ROLE})
        assert st == 200 and again["stateMachineArn"] == body["stateMachineArn"], again
        st, body = s.raw("AWSStepFunctions.CreateStateMachine",
                         {"name": "Big2", "definition": d2, "roleArn": ROLE})
        assert st == 400 and body["__type"] == "StateMachineAlreadyExists", body


if __name__ == "__main__":
    main([test_big_definition_off_loop])
