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


if __name__ == "__main__":
    main([test_seed_inputs, test_more_inputs_boto, test_lambda_invoke_cli,
          test_sigterm_drains_and_resumes])
