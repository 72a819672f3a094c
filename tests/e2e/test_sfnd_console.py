"""test_sfnd_console.py - the console of issue 15 (src/console) over real HTTP.

Fetches the page, its built-in assets and the Graphviz SVG with urllib and
curl; runs the trip saga (success and failBookFlight) and checks the
execution page's data endpoints (/console/summary: each state's outcome,
/console/saga: the bookings held or undone, the alerts), the live path (a
running execution seen running, its end seen within a second through the
Sfnd.WaitExecution long-poll the page uses), a 25,000-event execution
summarised in well under a second, and the cross-site rules: a same-origin
browser write without the page's token, with a wrong one, or from a foreign
Origin is refused and changes nothing; a machine's two published versions
and its 60/40 alias as the machine page fetches them, and an execution run
through the alias naming both. Then, when Debian's chromium is
installed, a headless Chromium loads the pages and the coloured nodes are
found in the DOM, a state's data opens by click and by keyboard, a running
execution updates live, start/stop/redrive work through the dialogs and a
cross-site form post is refused, the versions (number, description, date)
and the alias's routing weights are in the machine page's DOM and the
alias's execution page names its version and alias (skipped with a message without chromium,
which scripts/deps.sh installs in CI when it can).
Must not: depend on the network beyond 127.0.0.1.
"""
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import uuid  # noqa: E402

from sfnd_harness import SAGA_ARN, Sfnd, event, main, trip  # noqa: E402


def get(s, path, headers=None):
    req = urllib.request.Request(s.url + path, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def enc(v):
    return urllib.parse.quote(v, safe="")


def state_id(name):
    return "st-" + name.encode().hex()


def token_of(s):
    st, _, body = get(s, "/")
    assert st == 200, st
    m = re.search(rb'name="sfnd-console-token" content="([0-9a-f]{32})"', body)
    assert m, body[:600]
    return m.group(1).decode()


def browser_post(s, target, body, token=None, origin=None):
    h = {"Origin": origin or s.url, "X-Amz-Target": target,
         "Content-Type": "application/x-amz-json-1.0"}
    if token is not None:
        h["X-Sfnd-Console-Token"] = token
    return s.raw(target, body, headers=h)


def run_saga(s, name):
    """One saga execution of events/<name> on a trip of its own."""
    sfn = s.boto()
    tid = str(uuid.uuid4())
    arn = sfn.start_execution(stateMachineArn=SAGA_ARN, input=trip(name, tripId=tid))["executionArn"]
    d = s.wait_done(arn)
    assert d["status"] in ("SUCCEEDED", "FAILED"), d
    return arn, tid


def test_pages_assets_and_graph():
    with Sfnd() as s:
        st, h, body = get(s, "/")
        assert st == 200 and h["Content-Type"].startswith("text/html"), (st, h)
        assert "default-src 'none'" in h["Content-Security-Policy"], h
        assert b"{{TOKEN}}" not in body and b"/console/assets/console.js" in body
        assert len(token_of(s)) == 32
        for name, ctype in (("console.js", "text/javascript"), ("console.css", "text/css")):
            st, h, body = get(s, "/console/assets/" + name)
            assert st == 200 and h["Content-Type"].startswith(ctype) and len(body) > 1000, (name, st, h)
            # offline: nothing fetched from elsewhere (the SVG namespace is a name, not a fetch)
            assert not re.search(rb"https?://(?!www\.w3\.org/2000/svg)", body), name
        assert get(s, "/console/assets/nope.js")[0] == 404
        assert get(s, "/console/assets/../../etc/passwd")[0] == 404
        # DNS rebinding: a foreign Host gets nothing, not even the page
        st, _, body = get(s, "/", {"Host": "evil.example:%d" % s.port})
        assert st == 403 and b"AccessDenied" in body, (st, body)
        # the graph, through curl too (a second real client)
        with open(os.path.join(os.environ.get("SFN_SOURCE_DIR", "../.."), "statemachine",
                               "trip_saga.asl.json")) as f:
            names = list(json.load(f)["States"])
        out = subprocess.run(["curl", "-s", "-f", s.url + "/console/graph.svg?stateMachineArn=" + enc(SAGA_ARN)],
                             capture_output=True, timeout=30)
        assert out.returncode == 0, out
        svg = out.stdout.decode()
        assert svg.startswith("<svg"), svg[:200]
        for n in names:
            assert 'id="%s"' % state_id(n).replace("-", "&#45;") in svg, n
        st, h, _ = get(s, "/console/graph.svg?stateMachineArn=" + enc(SAGA_ARN + "Nope"))
        assert st == 400, st
        assert get(s, "/console/graph.svg")[0] == 400


def test_saga_execution_views():
    with Sfnd() as s:
        ok, trip_ok = run_saga(s, "success.json")
        bad, _ = run_saga(s, "fail-book-flight.json")
        st, _, body = get(s, "/console/summary?executionArn=" + enc(bad))
        assert st == 200, body
        sm = json.loads(body)
        states = {n: v["status"] for n, v in sm["states"].items()}
        assert states["BookHotel"] == "succeeded" and states["BookFlight"] == "caught", states
        assert states["CancelFlight"] == "succeeded" and states["TripBookingFailed"] == "failed", states
        assert "BookCar" not in states and "TripBooked" not in states, states
        assert sm["states"]["BookFlight"]["error"] == "BookingFailed", sm["states"]["BookFlight"]
        assert sm["execution"]["status"] == "FAILED" and sm["execution"]["redriveCount"] == 0
        assert len(sm["eventStep"]) == sm["eventCount"] == len(s.boto().get_execution_history(
            executionArn=bad, maxResults=1000)["events"])
        steps = [sm["stepNames"][i] if i >= 0 else None for i in sm["eventStep"]]
        assert steps[1] == "StartTrip" and "BookFlight" in steps, steps
        st, _, body = get(s, "/console/summary?executionArn=" + enc(ok))
        okst = json.loads(body)["states"]
        assert okst["TripBooked"]["status"] == "succeeded" and okst["BookCar"]["status"] == "succeeded"
        assert json.loads(okst["BookCar"]["input"]) and "output" in okst["BookCar"]
        # the saga view: what each holds or undid
        st, _, body = get(s, "/console/saga?executionArn=%s&tripId=%s" % (enc(ok), trip_ok))
        b = json.loads(body)["bookings"]
        held = sorted(r["kind"] for r in b if r["heldByThis"])
        assert held == ["CAR", "FLIGHT", "HOTEL"], b
        st, _, body = get(s, "/console/saga?executionArn=" + enc(bad))
        b = json.loads(body)["bookings"]
        assert b and all(r["undoneByThis"] and not r["heldByThis"] for r in b), b
        # the page's reads: same-origin, no token needed
        st, d = browser_post(s, "AWSStepFunctions.GetExecutionHistory", {"executionArn": bad, "maxResults": 10})
        assert st == 200 and len(d["events"]) == 10, (st, d)
        st, _, body = get(s, "/console/summary?executionArn=" + enc(bad + "x"))
        assert st == 400 and b"ExecutionDoesNotExist" in body, (st, body)


def test_live_updates():
    with Sfnd() as s:
        sfn = s.boto()
        d = {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "W"},
                                        "W": {"Type": "Wait", "Seconds": 2, "Next": "B"},
                                        "B": {"Type": "Pass", "End": True}}}
        sm = sfn.create_state_machine(name="Live", definition=json.dumps(d),
                                      roleArn="arn:aws:iam::123456789012:role/x")["stateMachineArn"]
        arn = sfn.start_execution(stateMachineArn=sm)["executionArn"]
        time.sleep(0.3)
        st, _, body = get(s, "/console/summary?executionArn=" + enc(arn))
        now = json.loads(body)
        assert now["execution"]["status"] == "RUNNING", now["execution"]
        assert now["states"]["W"]["status"] == "running" and "B" not in now["states"], now["states"]
        # the page's long-poll: one-second waits until the end, which shows at once
        seen = None
        for _ in range(10):
            t0 = time.time()
            st, x = browser_post(s, "Sfnd.WaitExecution", {"executionArn": arn, "timeoutSeconds": 1})
            assert st == 200 and time.time() - t0 < 1.8, (st, x)
            if x["status"] != "RUNNING":
                seen = time.time()
                break
        assert seen and x["status"] == "SUCCEEDED", x
        assert seen - x["stopDate"] < 1.0, (seen, x["stopDate"])
        st, _, body = get(s, "/console/summary?executionArn=" + enc(arn))
        assert json.loads(body)["states"]["B"]["status"] == "succeeded"


def test_cross_site_writes():
    with Sfnd() as s:
        tok = token_of(s)
        sfn = s.boto()
        before = len(sfn.list_executions(stateMachineArn=SAGA_ARN)["executions"])
        start = {"stateMachineArn": SAGA_ARN, "input": event("success.json")}
        for headers in ({}, {"token": "0" * 32}, {"token": tok[:-1]}):
            st, d = browser_post(s, "AWSStepFunctions.StartExecution", start, token=headers.get("token"))
            assert st == 403 and d["__type"] == "AccessDeniedException", (st, d)
        st, d = browser_post(s, "AWSStepFunctions.StartExecution", start, token=tok, origin="http://evil.example")
        assert st == 403, (st, d)
        st, d = s.raw("AWSStepFunctions.StartExecution", json.dumps(start).encode(),
                      headers={"Origin": s.url, "Content-Type": "text/plain", "X-Sfnd-Console-Token": tok})
        assert st == 403, (st, d)
        assert len(sfn.list_executions(stateMachineArn=SAGA_ARN)["executions"]) == before
        # with the page's token: started, stopped, and a stop without it refused
        st, d = browser_post(s, "AWSStepFunctions.StartExecution", start, token=tok)
        assert st == 200 and d["executionArn"], (st, d)
        s.wait_done(d["executionArn"])
        st, r = browser_post(s, "AWSStepFunctions.RedriveExecution", {"executionArn": d["executionArn"]})
        assert st == 403, (st, r)
        st, r = browser_post(s, "AWSStepFunctions.RedriveExecution", {"executionArn": d["executionArn"]}, token=tok)
        assert st == 400 and r["__type"] == "ExecutionNotRedrivable", (st, r)  # it SUCCEEDED: the API decided
        # the SDKs are not affected (no Origin)
        assert sfn.start_execution(stateMachineArn=SAGA_ARN, input=event("success.json"))["executionArn"]


def test_25000_events_fast():
    with Sfnd() as s:
        sfn = s.boto()
        d = {"StartAt": "Items", "States": {
            "Items": {"Type": "Pass", "Result": list(range(6250)), "Next": "M"},
            "M": {"Type": "Map", "End": True, "ItemProcessor": {
                "StartAt": "One", "States": {"One": {"Type": "Pass", "End": True}}}}}}
        sm = sfn.create_state_machine(name="Big", definition=json.dumps(d),
                                      roleArn="arn:aws:iam::123456789012:role/x")["stateMachineArn"]
        arn = sfn.start_execution(stateMachineArn=sm)["executionArn"]
        x = s.wait_done(arn)
        t0 = time.time()
        st, _, body = get(s, "/console/summary?executionArn=" + enc(arn))
        sm_t = time.time() - t0
        sm_ = json.loads(body)
        assert st == 200 and sm_["eventCount"] >= 25000, (st, x)
        t0 = time.time()
        st, h = browser_post(s, "AWSStepFunctions.GetExecutionHistory", {"executionArn": arn, "maxResults": 100})
        st2, _, svg = get(s, "/console/graph.svg?executionArn=" + enc(arn))
        rest = time.time() - t0
        assert st == 200 and st2 == 200 and len(h["events"]) == 100
        print("25,000 events: summary %.3f s, first page and graph %.3f s" % (sm_t, rest))
        assert sm_t + rest < (3.0 if os.environ.get("SFN_SANITIZE") else 1.0), (sm_t, rest)
        assert sm_["states"]["One"]["entered"] > 6000, sm_["states"]["One"]


# A Parallel of two branches, then a Map of three items whose second fails
# (tolerated): the drill-down's machine.
PM = {"StartAt": "P", "States": {
    "P": {"Type": "Parallel", "Next": "M", "ResultPath": "$.par", "Branches": [
        {"StartAt": "B1", "States": {"B1": {"Type": "Pass", "Result": 1, "End": True}}},
        {"StartAt": "B2", "States": {"B2": {"Type": "Pass", "Next": "B2b"}, "B2b": {"Type": "Pass", "End": True}}}]},
    "M": {"Type": "Map", "ItemsPath": "$.items", "ResultPath": "$.out", "End": True,
          "ToleratedFailurePercentage": 100, "ItemProcessor": {"StartAt": "Check", "States": {
              "Check": {"Type": "Choice", "Choices": [{"Variable": "$", "NumericEquals": 2, "Next": "Bad"}],
                        "Default": "Good"},
              "Good": {"Type": "Pass", "Parameters": {"v.$": "$"}, "ResultPath": "$", "End": True},
              "Bad": {"Type": "Fail", "Error": "Two", "Cause": "two is refused"}}}}}}


def run_pm(s, items=(1, 2, 3)):
    sfn = s.boto()
    sm = sfn.create_state_machine(name="PM", definition=json.dumps(PM),
                                  roleArn="arn:aws:iam::123456789012:role/x")["stateMachineArn"]
    arn = sfn.start_execution(stateMachineArn=sm, input=json.dumps({"items": list(items)}))["executionArn"]
    assert s.wait_done(arn)["status"] == "SUCCEEDED"
    return sm, arn


def get_json(s, path):
    st, _, body = get(s, path)
    return st, json.loads(body)


def test_drill_down_and_data_flow():
    """Map iterations and Parallel branches from the history, paged; one
    state's data-flow steps, recorded or recomputed by TestState."""
    with Sfnd() as s:
        sm, arn = run_pm(s)
        st, sm_ = get_json(s, "/console/summary?executionArn=" + enc(arn))
        assert st == 200, sm_
        assert sm_["containers"]["M"] == {"type": "Map", "count": 3, "byStatus": {"succeeded": 2, "failed": 1}}, sm_
        assert sm_["containers"]["P"]["count"] == 2, sm_["containers"]
        assert sm_["states"]["M"]["status"] == "succeeded", sm_["states"]["M"]  # a tolerated failure
        base = "/console/iterations?executionArn=%s&state=" % enc(arn)
        st, it = get_json(s, base + "M&offset=1&limit=1")
        assert st == 200 and it["type"] == "Map" and it["total"] == 3 and sorted(it["members"]) == ["Bad", "Check", "Good"]
        assert [(x["index"], x["status"]) for x in it["items"]] == [(1, "failed")], it
        assert it["items"][0]["states"]["Bad"]["status"] == "failed" and "Good" not in it["items"][0]["states"]
        st, it = get_json(s, base + "M&status=succeeded")
        assert [x["index"] for x in it["items"]] == [0, 2] and it["matched"] == 2, it
        st, it = get_json(s, base + "P")
        assert it["type"] == "Parallel" and [sorted(x["states"]) for x in it["items"]] == [["B1"], ["B2", "B2b"]], it
        for bad in ("Nope", "M&limit=0", "M&offset=x"):
            assert get(s, base + bad)[0] == 400, bad
        # one visit: Good in iteration 2, its steps
        st, d = get_json(s, "/console/state?executionArn=%s&state=Good&container=M&index=2" % enc(arn))
        assert st == 200 and d["context"] == "M[2]" and d["input"] == "3", d
        flow = {f["step"]: (json.loads(f["value"]), f["source"]) for f in d["dataflow"]}
        assert flow["input"] == (3, "history") and flow["afterParameters"] == ({"v": 3}, "recomputed"), flow
        assert flow["afterResultPath"] == ({"v": 3}, "recomputed") and flow["output"] == ({"v": 3}, "history"), flow
        assert "TestState" in d["recomputeNote"], d
        st, d = get_json(s, "/console/state?executionArn=%s&state=Bad&container=M&index=1" % enc(arn))
        assert st == 200 and d["context"] == "M[1]" and d["input"] == "2" and "output" not in d, d
        # a Task: parameters and result recorded, ResultPath recomputed
        ok, _ = run_saga(s, "success.json")
        st, d = get_json(s, "/console/state?executionArn=%s&state=BookFlight" % enc(ok))
        flow = {f["step"]: (f["value"], f["source"]) for f in d["dataflow"]}
        assert flow["afterParameters"][1] == "history" and "executionId" in json.loads(flow["afterParameters"][0])
        assert flow["result"][1] == "history" and json.loads(flow["result"][0])["kind"] == "FLIGHT", flow
        assert flow["afterResultPath"][1] == "recomputed", flow
        assert json.loads(flow["afterResultPath"][0]) == json.loads(flow["output"][0]), flow
        assert json.loads(flow["afterResultPath"][0])["results"]["flight"]["kind"] == "FLIGHT"
        assert [a["outcome"] for a in d["attempts"]] == ["succeeded"] and d["attempts"][0]["endedAt"] >= d["attempts"][0]["scheduledAt"]
        # the caught failure: its error, and the Catch's ResultPath recomputed from it as a mock
        bad, _ = run_saga(s, "fail-book-flight.json")
        st, d = get_json(s, "/console/state?executionArn=%s&state=BookFlight" % enc(bad))
        assert d["error"] == "BookingFailed" and d["attempts"][-1]["outcome"] == "failed", d
        flow = {f["step"]: (f["value"], f["source"]) for f in d["dataflow"]}
        assert json.loads(flow["output"][0])["failure"]["Error"] == "BookingFailed", flow
        assert flow["afterResultPath"][1] == "recomputed" and json.loads(flow["afterResultPath"][0]) == json.loads(
            flow["output"][0]), flow  # the Catch's ResultPath, from the recorded error as a mock
        assert get(s, "/console/state?executionArn=%s&state=Nope" % enc(ok))[0] == 400
        assert get(s, "/console/state?executionArn=%s" % enc(ok))[0] == 400


def test_template_origin():
    with Sfnd() as s:
        st, o = get_json(s, "/console/origin?stateMachineArn=" + enc(SAGA_ARN))
        assert st == 200 and o["template"].endswith("template.yaml") and o["logicalId"] == "TripSagaStateMachine", o
        assert o["substitutions"]["BookHotelFunctionArn"].endswith(":function:BookHotelFunction"), o
        fns = {f["name"]: f for f in o["functions"]}
        assert fns["BookHotelFunction"]["states"] == ["BookHotel"] and len(fns) == 6, fns
        assert fns["CancelCarFunction"]["arn"] == "arn:aws:lambda:us-east-1:123456789012:function:CancelCarFunction"
        # the link the page gives: the Lambda API's GetFunction
        st, _, body = get(s, "/2015-03-31/functions/BookHotelFunction")
        assert st == 200 and b"BookHotelFunction" in body, (st, body[:300])
        sm, _ = run_pm(s, items=[1])
        st, o = get_json(s, "/console/origin?stateMachineArn=" + enc(sm))
        assert o["template"] is None and o["logicalId"] is None and o["functions"] == [], o
        assert get(s, "/console/origin")[0] == 400
        assert get(s, "/console/origin?stateMachineArn=" + enc(sm + "x"))[0] == 400


VER_DEF = {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}


def publish_versions(s):
    """A machine with two published versions (different definitions, with
    descriptions), an alias routing 60/40 over them, and an execution
    started through the alias: (machine, v1, v2, alias, execution)."""
    sfn = s.boto()
    name = "Ver" + uuid.uuid4().hex[:8]
    r1 = sfn.create_state_machine(name=name, definition=json.dumps(VER_DEF), roleArn="arn:aws:iam::123456789012:role/x",
                                  publish=True, versionDescription="first cut")
    d = {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Pass", "End": True}}}
    r2 = sfn.update_state_machine(stateMachineArn=r1["stateMachineArn"], definition=json.dumps(d), publish=True,
                                  versionDescription="adds B")
    v1, v2 = r1["stateMachineVersionArn"], r2["stateMachineVersionArn"]
    alias = sfn.create_state_machine_alias(name="live", description="the canary", routingConfiguration=[
        {"stateMachineVersionArn": v1, "weight": 60}, {"stateMachineVersionArn": v2, "weight": 40}])["stateMachineAliasArn"]
    x = sfn.start_execution(stateMachineArn=alias)["executionArn"]
    assert s.wait_done(x)["status"] == "SUCCEEDED"
    return r1["stateMachineArn"], v1, v2, alias, x


def test_versions_and_aliases():
    """What the machine page asks for, as the page asks it (same-origin
    POSTs with the console token): the versions with their descriptions,
    the alias with its routing; the execution page's summary names the
    version and the alias an execution ran, and its graph is that version's."""
    with Sfnd() as s:
        sm, v1, v2, alias, x = publish_versions(s)
        tok = token_of(s)

        def page_api(op, body):
            st, d = browser_post(s, "AWSStepFunctions." + op, body, token=tok)
            assert st == 200, (op, st, d)
            return d
        vs = page_api("ListStateMachineVersions", {"stateMachineArn": sm, "maxResults": 1000})["stateMachineVersions"]
        assert [v["stateMachineVersionArn"] for v in vs] == [v2, v1], vs  # newest first, as AWS
        assert all(isinstance(v["creationDate"], (int, float)) for v in vs), vs
        descs = {v: page_api("DescribeStateMachine", {"stateMachineArn": v}).get("description") for v in (v1, v2)}
        assert descs == {v1: "first cut", v2: "adds B"}, descs
        als = page_api("ListStateMachineAliases", {"stateMachineArn": sm, "maxResults": 1000})["stateMachineAliases"]
        assert [a["stateMachineAliasArn"] for a in als] == [alias], als
        a = page_api("DescribeStateMachineAlias", {"stateMachineAliasArn": alias})
        assert a["description"] == "the canary" and sorted(
            (r["stateMachineVersionArn"], r["weight"]) for r in a["routingConfiguration"]) == [(v1, 60), (v2, 40)], a
        # the execution page's header data: which version and alias ran
        st, summ = get_json(s, "/console/summary?executionArn=" + enc(x))
        ex = summ["execution"]
        assert st == 200 and ex["stateMachineAliasArn"] == alias and ex["stateMachineVersionArn"] in (v1, v2), ex
        assert ex["stateMachineArn"] == sm, ex
        # the graph drawn for it is the version's that ran (v2 has B, v1 has not)
        st, _, svg = get(s, "/console/graph.svg?executionArn=" + enc(x))
        assert st == 200 and (state_id("B").replace("-", "&#45;").encode() in svg) == (ex["stateMachineVersionArn"] == v2)
        # a version's own page draws that version
        st, _, svg = get(s, "/console/graph.svg?stateMachineArn=" + enc(v1))
        assert st == 200 and state_id("B").replace("-", "&#45;").encode() not in svg


def sse(s, arn, last=None, timeout=20):
    """One answer of /console/events: (seconds taken, headers, parsed fields)."""
    h = {"Accept": "text/event-stream"}
    if last is not None:
        h["Last-Event-ID"] = str(last)
    t0 = time.time()
    req = urllib.request.Request(s.url + "/console/events?executionArn=" + enc(arn), headers=h)
    with urllib.request.urlopen(req, timeout=timeout) as r:
        text = r.read().decode()
        hdr = dict(r.headers)
    fields = dict(line.split(": ", 1) for line in text.splitlines() if ": " in line and not line.startswith(":"))
    return time.time() - t0, hdr, fields


def test_sse_updates():
    """Each new event of a running execution answers within a second; the
    end is an `end` event."""
    with Sfnd() as s:
        sfn = s.boto()
        d = {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "W1"},
                                        "W1": {"Type": "Wait", "Seconds": 1, "Next": "W2"},
                                        "W2": {"Type": "Wait", "Seconds": 1, "Next": "B"},
                                        "B": {"Type": "Pass", "End": True}}}
        sm = sfn.create_state_machine(name="Sse", definition=json.dumps(d),
                                      roleArn="arn:aws:iam::123456789012:role/x")["stateMachineArn"]
        arn = sfn.start_execution(stateMachineArn=sm)["executionArn"]
        took, hdr, f = sse(s, arn)
        assert hdr["Content-Type"].startswith("text/event-stream") and f["event"] == "update", (hdr, f)
        last, seen = int(f["id"]), []
        while True:
            took, hdr, f = sse(s, arn, last)
            now = time.time()
            assert int(f["id"]) > last, f
            last = int(f["id"])
            ev = [e for e in sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"] if e["id"] == last][0]
            lag = now - ev["timestamp"].timestamp()
            seen.append((f["event"], f["data"], round(lag, 3)))
            assert lag < 1.0, seen
            if f["event"] == "end":
                break
            assert len(seen) < 20, seen
        assert json.loads(seen[-1][1])["type"] == "ExecutionSucceeded", seen
        assert len(seen) >= 2, seen  # the waits' ends and the end, each seen on its own
        print("SSE: %d answers, lag after each event (s): %s" % (len(seen), [x[2] for x in seen]))
        # an ended execution answers at once with its end; a wrong ARN is refused
        took, _, f = sse(s, arn, last)
        assert f["event"] == "end" and took < 1.0, (took, f)
        assert get(s, "/console/events?executionArn=" + enc(arn + "x"))[0] == 400


def test_make_run_prints_console_urls():
    """`make run KEEP=1` (scripts/run_saga.py) ends with the console's URLs
    and keeps sfnd serving them until it is stopped."""
    import signal
    src = os.environ.get("SFN_SOURCE_DIR", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    env = dict(os.environ, KEEP="1", NO_COLOR="1")
    p = subprocess.Popen([sys.executable, os.path.join(src, "scripts", "run_saga.py"), "events/success.json"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
    try:
        lines, deadline = [], time.time() + 120
        while not any(l.strip().startswith("execution       http") for l in lines):
            assert time.time() < deadline and p.poll() is None, "".join(lines)
            lines.append(p.stdout.readline())
        urls = dict(l.split(None, 1)[0:1] + [l.split()[-1]] for l in lines if "http://127.0.0.1:" in l)
        assert "Ctrl-C" in "".join(lines), lines
        base, page = urls["state"], urls["execution"]
        assert page.startswith(base + "#/exec/") and page.endswith("TripSagaStateMachine%3Asuccess-0"), urls
        arn = urllib.parse.unquote(page.split("#/exec/")[1])
        with urllib.request.urlopen(base + "console/summary?executionArn=" + enc(arn), timeout=10) as r:
            assert json.loads(r.read())["execution"]["status"] == "SUCCEEDED"
        with urllib.request.urlopen(base, timeout=10) as r:
            assert b"sfnd-console-token" in r.read()
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=20) == 0
        try:
            urllib.request.urlopen(base, timeout=2)
            raise AssertionError("sfnd still serving after the run was stopped")
        except urllib.error.URLError:
            pass
    finally:
        if p.poll() is None:  # SIGTERM: it stops the sfnd it keeps
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        p.stdout.close()


def js_str(v):
    return json.dumps(v)


def has_class(name, cls):
    """A JavaScript expression: does the graph node of state `name` have class cls?"""
    return "(() => { const g = document.getElementById(%s); return !!g && g.classList.contains(%s); })()" % (
        js_str(state_id(name)), js_str(cls))


def test_headless_chromium():
    """The pages in a real browser (Debian's chromium, driven through the
    DevTools protocol by cdp.py): lists, coloured states, a state's data
    by click and by keyboard, live updates, start/stop/redrive through the
    dialogs, a cross-site form post refused. Screenshots of the two seed
    executions go to $SFN_CONSOLE_SCREENSHOTS when it is set."""
    from cdp import Browser, find_chromium
    binary = find_chromium()
    if binary is None:
        # optional: scripts/deps.sh installs it in CI when it can
        print("SKIP test_headless_chromium: no chromium (Debian: apt-get install chromium)")
        return
    with Sfnd() as s:
        ok, _ = run_saga(s, "success.json")
        bad, _ = run_saga(s, "fail-book-flight.json")
        b = Browser(binary)
        try:
            browser_checks(s, b, ok, bad)
        finally:
            b.close()


def key(b, k):
    """A real key press on the focused element (DevTools input events)."""
    code = {"ArrowDown": 40, "ArrowUp": 38, "Enter": 13, " ": 32, "Tab": 9}[k]
    for t in ("rawKeyDown", "keyUp"):
        b.call("Input.dispatchKeyEvent", type=t, key=k, code="Space" if k == " " else k,
               windowsVirtualKeyCode=code)
    if k in (" ", "Enter"):
        pass  # no text input: the handlers act on keydown


def click_state(b, name):
    b.eval("document.getElementById(%s).dispatchEvent(new MouseEvent('click', {bubbles: true}))" % js_str(state_id(name)))


CONTRAST = """(() => {
  const lum = (c) => { const v = c.match(/[\\d.]+/g).slice(0, 3).map(Number).map((x) => { x /= 255;
    return x <= 0.03928 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4); }); return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2]; };
  const bg = (e) => { for (; e; e = e.parentElement) { const c = getComputedStyle(e).backgroundColor;
    if (!/rgba\\(.*, 0\\)$/.test(c) && c !== 'transparent') return c; } return 'rgb(255,255,255)'; };
  const out = [];
  for (const e of document.querySelectorAll('.badge, .muted, a, th, td, h1, h2, h4, dt')) {
    if (!e.textContent.trim() || !e.getClientRects().length) continue;
    const a = lum(getComputedStyle(e).color), b = lum(bg(e));
    const r = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (r < 4.5) out.push(e.className + ' ' + e.textContent.slice(0, 20) + ' ' + r.toFixed(2));
  }
  const fill = (sel) => { const g = document.querySelector(sel + ' text'); return g ? lum(getComputedStyle(g).fill) : null; };
  return out;
})()"""


def readable_colours(b):
    """Text of at least 4.5:1 contrast (WCAG AA) in the light and the dark scheme."""
    for scheme in ("light", "dark"):
        b.call("Emulation.setEmulatedMedia", features=[{"name": "prefers-color-scheme", "value": scheme}])
        time.sleep(0.2)
        assert b.eval("matchMedia('(prefers-color-scheme: %s)').matches" % scheme)
        low = b.eval(CONTRAST)
        assert not low, (scheme, low)
    b.call("Emulation.setEmulatedMedia", features=[])


def versions_in_browser(s, b):
    """A machine's two versions (number, description, date) and its alias
    with the routing weights, in the DOM; a version's own page; the
    execution started through the alias naming its version and alias."""
    sfn = s.boto()
    sm, v1, v2, alias, x = publish_versions(s)
    ran = sfn.describe_execution(executionArn=x)["stateMachineVersionArn"]
    b.goto(s.url + "/#/sm/" + enc(sm))
    b.wait("document.querySelectorAll('#version-list tbody tr').length === 2 && document.querySelector('#alias-list tbody tr')")
    rows = b.eval("Array.from(document.querySelectorAll('#version-list tbody tr'), (r) => Array.from(r.cells, (c) => c.innerText))")
    assert [r[:2] for r in rows] == [["2", "adds B"], ["1", "first cut"]], rows
    created = {v["stateMachineVersionArn"]: v["creationDate"].timestamp()
               for v in sfn.list_state_machine_versions(stateMachineArn=sm)["stateMachineVersions"]}
    shown = b.eval("[%s].map((t) => new Date(t * 1000).toLocaleString())" % ", ".join(repr(created[v]) for v in (v2, v1)))
    assert [r[2] for r in rows] == shown and all(shown), (rows, shown)
    routes = b.eval("Array.from(document.querySelectorAll('#alias-list .route'), (e) => [e.dataset.version, e.dataset.weight, e.innerText])")
    assert sorted(routes) == [["1", "60", "version 1: 60%"], ["2", "40", "version 2: 40%"]], routes
    alias_row = b.eval("document.querySelector('#alias-list tbody tr').innerText")
    assert "live" in alias_row and "the canary" in alias_row, alias_row
    b.wait("document.querySelector('table.executions td.ran')")
    assert b.eval("document.querySelector('table.executions td.ran').innerText") == ran.split(":")[-1] + " (live)"
    readable_colours(b)
    # a version's own page: its description, its definition's graph, the way back
    b.eval("document.querySelector('#version-list tr[data-version=\"1\"] a').click()")
    b.wait("document.getElementById('version-of') && document.querySelector('.graph svg') && "
           "document.querySelector('#version-list tr.selected')")
    assert "first cut" in b.eval("document.getElementById('main').innerText")
    assert b.eval("document.querySelector('#version-list tr.selected').dataset.version") == "1"
    assert b.eval("!!document.getElementById(%s) && !document.getElementById(%s)" % (js_str(state_id("A")), js_str(state_id("B"))))
    assert b.eval("document.getElementById('version-of').getAttribute('href')") == "#/sm/" + enc(sm)
    # the execution through the alias: which version and alias it ran
    b.goto(s.url + "/#/exec/" + enc(x))
    b.wait("document.getElementById('exec-version') && document.getElementById('exec-alias') && document.querySelector('.graph svg')")
    assert b.eval("document.getElementById('exec-version').innerText") == ran.split(":")[-1]
    assert b.eval("document.getElementById('exec-version').getAttribute('href')") == "#/sm/" + enc(ran)
    assert b.eval("document.getElementById('exec-alias').innerText") == "live"
    assert b.eval(has_class("A", "s-succeeded"))
    assert b.eval("!!document.getElementById(%s)" % js_str(state_id("B"))) == (ran == v2)


def browser_checks(s, b, ok, bad):
    sfn = s.boto()
    shots = os.environ.get("SFN_CONSOLE_SCREENSHOTS")
    b.goto(s.url + "/")
    b.wait("document.querySelector('table.machines') && document.body.innerText.includes('CompensateTripStateMachine')")
    b.wait("document.body.innerText.includes('SUCCEEDED 1') && document.body.innerText.includes('FAILED 1')")
    # the failBookFlight execution: the path coloured
    b.goto(s.url + "/#/exec/" + enc(bad))
    b.wait(has_class("BookFlight", "s-caught"))
    for name, cls in (("BookHotel", "s-succeeded"), ("CancelHotel", "s-succeeded"), ("CancelFlight", "s-succeeded"),
                      ("TripBookingFailed", "s-failed"), ("BookCar", "s-none"), ("TripBooked", "s-none")):
        assert b.eval(has_class(name, cls)), (name, cls)
    b.wait("document.body.innerText.includes('undid it') && document.body.innerText.includes('LambdaFunctionFailed')")
    if shots:
        os.makedirs(shots, exist_ok=True)
        b.screenshot(os.path.join(shots, "console-fail-book-flight.png"))
    # a state's data: by click, then by keyboard
    b.eval("document.getElementById(%s).dispatchEvent(new MouseEvent('click', {bubbles: true}))" % js_str(state_id("BookFlight")))
    b.wait("document.querySelector('#state-panel h2').textContent === 'BookFlight'")
    panel = b.eval("document.getElementById('state-panel').innerText")
    assert "BookingFailed" in panel and "caught" in panel and "tripId" in panel, panel
    b.eval("(() => { const g = document.getElementById(%s); g.focus(); g.dispatchEvent(new KeyboardEvent('keydown', "
           "{key: 'Enter', bubbles: true})); })()" % js_str(state_id("BookHotel")))
    b.wait("document.querySelector('#state-panel h2').textContent === 'BookHotel'")
    b.goto(s.url + "/#/exec/" + enc(ok))
    b.wait(has_class("TripBooked", "s-succeeded"))
    assert b.eval(has_class("CancelHotel", "s-none"))
    b.wait("document.body.innerText.includes('holds it')")
    if shots:
        b.screenshot(os.path.join(shots, "console-success.png"))
    # keyboard: Tab reaches the graph once, arrows move between states, Enter opens one
    b.goto(s.url + "/#/exec/" + enc(bad))
    b.wait(has_class("BookFlight", "s-caught"))
    b.eval("document.querySelector('.graph svg .state[tabindex=\"0\"]').focus()")
    first = b.eval("document.activeElement.id")
    order = [first]
    for _ in range(3):
        key(b, "ArrowDown")
        order.append(b.eval("document.activeElement.id"))
    assert len(set(order)) == 4 and all(i.startswith("st-") for i in order), order
    key(b, "ArrowUp")
    assert b.eval("document.activeElement.id") == order[2]
    key(b, "Enter")
    b.wait("document.querySelector('#state-panel h2') && document.querySelector('#state-panel h2').textContent && "
           "%s.includes(document.querySelector('#state-panel h2').textContent)" % js_str(
               [bytes.fromhex(order[2][3:]).decode()]))
    assert b.eval("document.querySelectorAll('.graph svg .state[tabindex=\"0\"]').length") == 1
    # the event table's rows: one tab stop, arrows between rows, Space opens the details
    b.wait("document.querySelector('table.events tbody tr')")
    b.eval("document.querySelector('table.events tbody tr').focus()")
    key(b, "ArrowDown")
    key(b, "ArrowDown")
    assert b.eval("document.activeElement.firstChild.textContent") == "3"
    key(b, " ")
    assert b.eval("document.activeElement.querySelector('details').open")
    # the state panel's data flow: BookFlight's Parameters (recorded) and ResultPath (recomputed)
    click_state(b, "BookFlight")
    b.wait("document.querySelector('#dataflow .df-afterResultPath')")
    assert "recomputed" in b.eval("document.querySelector('#dataflow .df-afterResultPath h4').innerText")
    assert "from the history" in b.eval("document.querySelector('#dataflow .df-afterParameters h4').innerText")
    assert "BookingFailed" in b.eval("document.querySelector('#dataflow .df-afterResultPath pre').innerText")
    assert "executionId" in b.eval("document.querySelector('#dataflow .df-afterParameters pre').innerText")
    assert b.eval("document.querySelectorAll('table.attempts tbody tr').length") >= 1
    readable_colours(b)
    # drill-down: a Parallel branch and a Map iteration, each its own path
    _, pm = run_pm(s)
    b.goto(s.url + "/#/exec/" + enc(pm))
    b.wait("document.querySelectorAll('table.iterations tbody tr').length === 2")
    assert "Parallel branches" in b.eval("document.getElementById('drill').innerText")
    b.eval("document.querySelector('table.iterations tbody tr:nth-child(2)').focus()")
    key(b, "Enter")
    b.wait(has_class("B2", "s-succeeded") + " && " + has_class("B1", "s-none"))
    assert b.eval(has_class("B2b", "s-succeeded"))
    assert b.eval("document.getElementById(%s).classList.contains('selected')" % js_str(state_id("P") + "-b1"))
    click_state(b, "M")  # a Map's cluster opens its iterations
    b.wait("document.getElementById('drill-state').value === 'M' && document.querySelectorAll('table.iterations tbody tr').length === 3")
    assert b.eval(has_class("B1", "s-succeeded")), "the Parallel's selection is gone"
    b.eval("document.querySelector('table.iterations tbody tr[data-index=\"1\"]').click()")
    b.wait(has_class("Bad", "s-failed") + " && " + has_class("Good", "s-none"))
    assert "M[1]" in b.eval("document.getElementById('drill-sel').innerText")
    b.eval("document.querySelector('table.iterations tbody tr[data-index=\"2\"]').click()")
    b.wait(has_class("Good", "s-succeeded") + " && " + has_class("Bad", "s-none"))
    click_state(b, "Good")
    b.wait("document.querySelector('#dataflow .df-afterParameters')")
    assert "In M[2]" in b.eval("document.getElementById('state-panel').innerText")
    assert '"v": 3' in b.eval("document.querySelector('#dataflow .df-afterParameters pre').innerText")
    b.eval("document.getElementById('drill-status').value = 'failed'; document.getElementById('drill-status').dispatchEvent(new Event('change'))")
    b.wait("document.querySelectorAll('table.iterations tbody tr').length === 1")
    # the machine page: template origin, functions, substitutions; versions and aliases (none here)
    b.goto(s.url + "/#/sm/" + enc(SAGA_ARN))
    b.wait("document.querySelector('#origin a.fn') && document.getElementById('version-list')")
    origin = b.eval("document.getElementById('origin').innerText")
    assert "template.yaml" in origin and "TripSagaStateMachine" in origin and "BookHotelFunctionArn" in origin, origin
    assert b.eval("document.querySelector('#origin a.fn').getAttribute('href')").startswith("/2015-03-31/functions/")
    assert sfn.list_state_machine_versions(stateMachineArn=SAGA_ARN)["stateMachineVersions"] == []
    assert b.eval("document.getElementById('version-list').innerText") == "none"
    assert b.eval("document.getElementById('alias-list').innerText") == "none"
    versions_in_browser(s, b)
    # live: a running execution turns green without a reload
    d = {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "W"}, "W": {"Type": "Wait", "Seconds": 2, "Next": "B"},
                                    "B": {"Type": "Pass", "End": True}}}
    live = sfn.create_state_machine(name="Live", definition=json.dumps(d),
                                    roleArn="arn:aws:iam::123456789012:role/x")["stateMachineArn"]
    x = sfn.start_execution(stateMachineArn=live)["executionArn"]
    b.goto(s.url + "/#/exec/" + enc(x))
    b.wait(has_class("W", "s-running"))
    assert b.eval("document.getElementById('live').dataset.via") == "sse"
    b.wait(has_class("B", "s-succeeded"), timeout=10)
    seen = time.time()
    stop = sfn.describe_execution(executionArn=x)["stopDate"].timestamp()
    assert seen - stop < 1.5, (seen, stop)
    # without EventSource: the one-second long-poll on the waiter
    b.call("Page.enable")
    script = b.call("Page.addScriptToEvaluateOnNewDocument", source="window.EventSource = undefined;")["identifier"]
    x = sfn.start_execution(stateMachineArn=live)["executionArn"]
    b.goto("about:blank")  # a new document, where the script runs first
    b.wait("location.href === 'about:blank'")
    b.goto(s.url + "/#/exec/" + enc(x))
    b.wait(has_class("W", "s-running"))
    via = b.eval("typeof window.EventSource + ' ' + document.getElementById('live').dataset.via")
    assert via == "undefined long-poll", via
    b.wait(has_class("B", "s-succeeded"), timeout=10)
    stop = sfn.describe_execution(executionArn=x)["stopDate"].timestamp()
    assert time.time() - stop < 1.5, (time.time(), stop)
    b.call("Page.removeScriptToEvaluateOnNewDocument", identifier=script)
    # start from the machine's page: the dialog holds the last input
    b.goto(s.url + "/#/sm/" + enc(SAGA_ARN))
    b.wait("document.getElementById('start') && document.querySelector('.graph svg') && document.querySelector('table.executions tbody tr a')")
    b.eval("document.getElementById('start').click()")
    text = b.wait("document.getElementById('start-input') && document.getElementById('start-input').value")
    assert "tripId" in text, text
    new_trip = str(uuid.uuid4())
    body = json.loads(text)
    body["tripId"] = new_trip
    body.pop("failBookFlight", None)
    b.eval("document.getElementById('start-input').value = %s; document.getElementById('start-name').value = 'from-console';"
           " document.getElementById('dlg-ok').click()" % js_str(json.dumps(body)))
    b.wait("location.hash.startsWith('#/exec/') && location.hash.includes('from-console')")
    started = SAGA_ARN.replace(":stateMachine:", ":execution:") + ":from-console"
    assert s.wait_done(started)["status"] == "SUCCEEDED"
    # stop, then redrive, through the dialogs
    d["States"]["W"]["Seconds"] = 60
    sfn.update_state_machine(stateMachineArn=live, definition=json.dumps(d))
    x = sfn.start_execution(stateMachineArn=live)["executionArn"]
    b.goto(s.url + "/#/exec/" + enc(x))
    b.wait("document.getElementById('stop')")
    b.eval("document.getElementById('stop').click()")
    b.wait("document.getElementById('dlg').open")
    b.eval("document.getElementById('dlg-ok').click()")
    assert s.wait_done(x, timeout=10)["status"] == "ABORTED"
    b.wait("document.getElementById('redrive')")
    b.eval("document.getElementById('redrive').click()")
    b.wait("document.getElementById('dlg').open")
    b.eval("document.getElementById('dlg-ok').click()")
    deadline = time.time() + 10
    while sfn.describe_execution(executionArn=x).get("redriveCount", 0) != 1:
        assert time.time() < deadline, sfn.describe_execution(executionArn=x)
        time.sleep(0.1)
    sfn.stop_execution(executionArn=x)
    # a cross-site form post (another origin's page) is refused and starts nothing
    before = len(sfn.list_executions(stateMachineArn=SAGA_ARN)["executions"])
    form = ("<form method=post enctype=text/plain action='%s/'><input name='{\"stateMachineArn\":\"%s\",\"a\":\"' "
            "value='\"}'></form><script>document.forms[0].submit()</script>" % (s.url, SAGA_ARN))
    b.goto("data:text/html," + urllib.parse.quote(form))
    # the 403's JSON body, or Chrome's own page for a body it will not show
    b.wait("location.href.startsWith('chrome-error:') || document.body.innerText.includes('AccessDenied')")
    time.sleep(0.5)
    assert len(sfn.list_executions(stateMachineArn=SAGA_ARN)["executions"]) == before


if __name__ == "__main__":
    main([test_pages_assets_and_graph, test_saga_execution_views, test_live_updates,
          test_cross_site_writes, test_25000_events_fast, test_drill_down_and_data_flow, test_template_origin,
          test_versions_and_aliases, test_sse_updates, test_make_run_prints_console_urls, test_headless_chromium])
