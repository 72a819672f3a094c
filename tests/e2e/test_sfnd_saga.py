"""The trip saga through sfnd with the real bootstraps and the SQLite store:
the seed's two inputs (AWS CLI), the other failure inputs (boto3), the
Lambda Invoke API (aws lambda invoke), and a SIGTERM drain with executions
in flight that finish after the restart."""
import json
import os
import tempfile
import time
import uuid

from sfnd_harness import (SAGA_ARN, Sfnd, check_history, event, history, main, saga_definition,
                          trip)


def test_seed_inputs():
    """The seed's two inputs (they share a tripId), each on its own store,
    through the AWS CLI: exact end states in the SQLite store, continuous
    histories."""
    with Sfnd() as s:
        _, out, _ = s.cli("stepfunctions", "start-execution", "--state-machine-arn", SAGA_ARN,
                          "--input", event("success.json"))
        d = s.wait_done(out["executionArn"])
        assert d["status"] == "SUCCEEDED", d
        t = json.loads(event("success.json"))["tripId"]
        assert s.bookings()[t] == {"HOTEL": "BOOKED", "FLIGHT": "BOOKED", "CAR": "BOOKED"}, s.bookings()
        out = json.loads(d["output"])
        assert out["results"]["car"]["status"] == "BOOKED", out
        _, h, _ = s.cli("stepfunctions", "get-execution-history", "--execution-arn", d["executionArn"])
        assert not check_history(h["events"]), check_history(h["events"])
    with Sfnd() as s:
        _, out, _ = s.cli("stepfunctions", "start-execution", "--state-machine-arn", SAGA_ARN,
                          "--input", event("fail-book-flight.json"))
        d = s.wait_done(out["executionArn"])
        assert d["status"] == "FAILED", d
        t = json.loads(event("fail-book-flight.json"))["tripId"]
        b = s.bookings()[t]
        assert b["HOTEL"] == "CANCELLED" and b["FLIGHT"] == "CANCELLED", b
        assert b.get("CAR") != "BOOKED", b
        # compensations ran newest first
        names = [e["stateEnteredEventDetails"]["name"] for e in history(s.boto(), out["executionArn"])
                 if e["type"] == "TaskStateEntered"]
        assert names.index("CancelFlight") < names.index("CancelHotel"), names
        assert not check_history(history(s.boto(), out["executionArn"]))


def test_more_inputs_boto():
    with Sfnd(time_scale=10) as s:
        sfn = s.boto()
        cases = {"fail-book-hotel.json": ("FAILED", {"HOTEL": "CANCELLED"}),
                 "fail-book-car.json": ("FAILED", {"HOTEL": "CANCELLED", "FLIGHT": "CANCELLED", "CAR": "CANCELLED"}),
                 "cancel-retry.json": ("FAILED", {"HOTEL": "CANCELLED", "FLIGHT": "CANCELLED"})}
        arns = {}
        for name in cases:
            tid = str(uuid.uuid4())
            arns[name] = (tid, sfn.start_execution(stateMachineArn=SAGA_ARN, input=trip(name, tripId=tid))["executionArn"])
        b = None
        for name, (status, want) in cases.items():
            tid, arn = arns[name]
            d = s.wait_done(arn)
            assert d["status"] == status, (name, d)
            b = s.bookings()
            for kind, st in want.items():
                assert b[tid][kind] == st, (name, b[tid])
            assert "BOOKED" not in b[tid].values(), (name, b[tid])
        # cancel-retry: the retries show in the history
        h = history(sfn, arns["cancel-retry.json"][1])
        fails = [e for e in h if e["type"] == "LambdaFunctionFailed"]
        assert len(fails) >= 3, [e["type"] for e in h]


def test_lambda_invoke_cli():
    with Sfnd() as s:
        tid = str(uuid.uuid4())
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "out.json")
            _, meta, _ = s.cli("lambda", "invoke", "--function-name", "BookHotelFunction",
                               "--payload", trip(tripId=tid), out)
            assert meta["StatusCode"] == 200, meta
            with open(out) as f:
                body = json.load(f)
            assert body["status"] == "BOOKED" and body["kind"] == "HOTEL", body
            # a function error: 200 with FunctionError
            _, meta, _ = s.cli("lambda", "invoke", "--function-name", "BookHotelFunction",
                               "--payload", trip(tripId=str(uuid.uuid4()), failBookHotel=True), out)
            assert meta.get("FunctionError") == "Unhandled", meta
            with open(out) as f:
                assert json.load(f)["errorType"] == "BookingFailed"
            rc, _, err = s.cli("lambda", "invoke", "--function-name", "NoSuchFunction",
                               "--payload", "{}", out, check=False)
            assert rc != 0 and "ResourceNotFoundException" in err, err
        assert s.bookings()[tid] == {"HOTEL": "BOOKED"}
        # boto3, by ARN
        lam = s.boto("lambda")
        r = lam.invoke(FunctionName="arn:aws:lambda:us-east-1:123456789012:function:CancelHotelFunction",
                       Payload=trip(tripId=tid).encode())
        assert json.loads(r["Payload"].read())["status"] == "CANCELLED"
        assert s.bookings()[tid] == {"HOTEL": "CANCELLED"}


def test_sigterm_drains_and_resumes():
    s = Sfnd(time_scale=1)
    try:
        s.start()
        sfn = s.boto()
        sfn.create_state_machine(name="slow", definition=saga_definition(wait_seconds=2),
                                 roleArn="arn:aws:iam::123456789012:role/r")
        sm = "arn:aws:states:us-east-1:123456789012:stateMachine:slow"
        arns = [sfn.start_execution(stateMachineArn=sm, input=trip(tripId=str(uuid.uuid4())))["executionArn"]
                for _ in range(5)]
        time.sleep(0.5)
        t0 = time.time()
        rc = s.stop()
        assert rc == 0, s.output()
        assert time.time() - t0 < 8
        s.start()
        sfn = s.boto()
        for a in arns:
            d = s.wait_done(a)
            assert d["status"] == "SUCCEEDED", d
            assert not check_history(history(sfn, a))
        assert s.stop() == 0
    finally:
        s.cleanup()


def payload(e):
    for k, v in e.items():
        if k.endswith("EventDetails") and isinstance(v, dict):
            for f in ("input", "output"):
                if f in v:
                    return v[f]
    return None


def test_history_payloads():
    """sfnd stores a payload equal to the last one as a reference to it:
    every read (forwards, backwards, one event a page, without data) gives
    each event its own payload, and the payloads chain as the states do."""
    with Sfnd() as s:
        sfn = s.boto()
        arns = [sfn.start_execution(stateMachineArn=SAGA_ARN,
                                    input=trip(name, tripId=str(uuid.uuid4())))["executionArn"]
                for name in ("success.json", "fail-book-flight.json")]
        for arn in arns:
            d = s.wait_done(arn)
            h = history(sfn, arn)
            raw = json.dumps(h, default=str)
            assert '"@' not in raw and ":@" not in raw, raw[:300]
            for e in h:
                p = payload(e)
                if p is not None:
                    json.loads(p)  # each one is JSON text
            # the chain: a state's input is the previous state's output; a
            # task's input is its Parameters: the state's trip and owner
            last_out = None
            for i, e in enumerate(h):
                t = e["type"]
                if t == "ExecutionStarted":
                    last_out = payload(e)
                elif t in ("LambdaFunctionFailed", "LambdaFunctionTimedOut"):
                    last_out = None  # a Catch makes the next input
                elif t.endswith("StateEntered"):
                    assert last_out is None or payload(e) == last_out, (arn, e["id"])
                    nxt = h[i + 1]
                    if nxt["type"] == "LambdaFunctionScheduled":
                        got, inp = json.loads(payload(nxt)), json.loads(payload(e))
                        assert got["trip"] == inp["trip"], (arn, nxt["id"])
                        assert got["executionId"] == inp["executionId"] == arn, (arn, nxt["id"])
                elif t.endswith("StateExited"):
                    last_out = payload(e)
            if d["status"] == "SUCCEEDED":
                assert payload(h[-1]) == d["output"] == last_out
            rev = []
            kw = {}
            while True:
                r = sfn.get_execution_history(executionArn=arn, reverseOrder=True, maxResults=2, **kw)
                rev += r["events"]
                if "nextToken" not in r:
                    break
                kw["nextToken"] = r["nextToken"]
            assert rev[::-1] == h
            one, kw = [], {}
            while True:
                r = sfn.get_execution_history(executionArn=arn, maxResults=1, **kw)
                one += r["events"]
                if "nextToken" not in r:
                    break
                kw["nextToken"] = r["nextToken"]
            assert one == h
            meta = sfn.get_execution_history(executionArn=arn, maxResults=1000,
                                              includeExecutionData=False)["events"]
            assert [e["id"] for e in meta] == [e["id"] for e in h]
            assert all(payload(e) is None for e in meta)


if __name__ == "__main__":
    main([test_seed_inputs, test_more_inputs_boto, test_history_payloads, test_lambda_invoke_cli,
          test_sigterm_drains_and_resumes])
