"""Mock configuration files (Step Functions Local's format) in sfnd:
--mock-config / SFN_MOCK_CONFIG, StartExecution and StartSyncExecution on
<stateMachineArn>#<TestCaseName>, through boto3 and the AWS CLI.

- the trip saga's failure path (BookCar fails, every cancel mocked): the
  history is the one a real Lambda task writes, and no booking is made (the
  tasks never left the engine);
- retries consume the mocked response's indexes ("0-2" throw, "3" returns);
- service integrations mocked: sns:publish and sqs:sendMessage (nothing
  written to the topic's or queue's file), in a Standard and an Express
  machine (StartSyncExecution);
- an unknown test case is a ValidationException; a state not in the test
  case runs for real; an invocation no key covers fails with States.Runtime;
- restart mid-execution: sfnd killed during a retry's back-off resumes with
  the same mocks (the next index), from the file read again at start-up;
- an invalid file: sfnd refuses to start, naming the file and the path.
"""
import json
import os
import subprocess
import tempfile
import time

from sfnd_harness import (ACCOUNT, REGION, SAGA_ARN, SFND, SRC, TEMPLATE, Sfnd, check_history, client_env,
                          free_port, history, main, trip)

ROLE = f"arn:aws:iam::{ACCOUNT}:role/r"
TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT}:SagaAlertsTopic"
QUEUE_URL = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/mockq"


def sm_arn(name):
    return f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{name}"


MSGS = {
    "Comment": "sns:publish then sqs:sendMessage",
    "StartAt": "Publish",
    "States": {
        "Publish": {"Type": "Task", "Resource": "arn:aws:states:::sns:publish",
                    "Parameters": {"TopicArn": TOPIC_ARN, "Message.$": "$.msg"},
                    "ResultPath": "$.published", "Next": "Send"},
        "Send": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage",
                 "Parameters": {"QueueUrl": QUEUE_URL, "MessageBody.$": "$.msg"},
                 "ResultSelector": {"id.$": "$.MessageId"}, "ResultPath": "$.sent", "End": True},
    },
}

# Wait, then a task that fails once and is retried after 2 s: sfnd is
# killed during the back-off; the retry must get invocation 1's response.
SLOW = {
    "StartAt": "Pause",
    "States": {
        "Pause": {"Type": "Wait", "Seconds": 1, "Next": "Call"},
        "Call": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                 "Parameters": {"FunctionName": "BookHotelFunction", "Payload.$": "$"},
                 "Retry": [{"ErrorEquals": ["Lambda.ServiceException"], "IntervalSeconds": 3,
                            "MaxAttempts": 2, "BackoffRate": 1}],
                 "End": True},
    },
}


def mock_config(path):
    """The saga's own mock configuration plus this test's machines."""
    with open(os.path.join(SRC, "statemachine", "tests", "mock_config.json")) as f:
        cfg = json.load(f)
    cfg["StateMachines"]["MockMsgs"] = {"TestCases": {
        "Mocked": {"Publish": "Published", "Send": "Sent"},
        "OnlySend": {"Send": "Sent"},
        "SendTwice": {"Publish": "Published", "Send": "SentOnce"}}}
    cfg["StateMachines"]["MockExpress"] = {"TestCases": {"Mocked": {"Publish": "Published", "Send": "Sent"}}}
    cfg["StateMachines"]["MockSlow"] = {"TestCases": {"FailThenOk": {"Call": "FailOnceThenOk"}}}
    cfg["MockedResponses"].update({
        "Published": {"0-9": {"Return": {"MessageId": "mocked-sns-1"}}},
        "Sent": {"0": {"Return": {"MessageId": "mocked-sqs-1", "MD5OfMessageBody": "abc"}}},
        "SentOnce": {"1": {"Return": {"MessageId": "never"}}},
        "FailOnceThenOk": {
            "0": {"Throw": {"Error": "Lambda.ServiceException", "Cause": "mocked outage"}},
            "1": {"Return": {"StatusCode": 200, "ExecutedVersion": "$LATEST", "Payload": {"ok": True}}}},
    })
    with open(path, "w") as f:
        json.dump(cfg, f)


def started(s, arn, input="{}", name=None):
    kw = {"name": name} if name else {}
    return s.boto().start_execution(stateMachineArn=arn, input=input, **kw)["executionArn"]


def test_saga_failure_path_and_retries():
    tmp = tempfile.mkdtemp(prefix="sfnd-mock-")
    cfg = os.path.join(tmp, "mocks.json")
    mock_config(cfg)
    with Sfnd(time_scale=200, extra=["--mock-config", cfg]) as s:
        sfn = s.boto()
        # boto3: BookCar fails, the three cancels succeed
        tid = "mock-car-fails"
        arn = started(s, SAGA_ARN + "#BookCarFails", trip(tripId=tid), name="car-fails")
        assert arn.endswith(":execution:TripSagaStateMachine:car-fails"), arn
        d = s.wait_done(arn)
        assert d["status"] == "FAILED" and d["error"] == "TripBookingFailed", d
        assert d["stateMachineArn"] == SAGA_ARN, d
        ev = history(sfn, arn)
        assert not check_history(ev), check_history(ev)
        types = [e["type"] for e in ev]
        # the events of a real Lambda task, six times
        assert types.count("LambdaFunctionScheduled") == 6, types
        assert types.count("LambdaFunctionStarted") == 6, types
        assert types.count("LambdaFunctionFailed") == 1, types
        failed = next(e for e in ev if e["type"] == "LambdaFunctionFailed")
        assert failed["lambdaFunctionFailedEventDetails"]["error"] == "BookingFailed", failed
        ok = [e["lambdaFunctionSucceededEventDetails"]["output"] for e in ev if e["type"] == "LambdaFunctionSucceeded"]
        assert json.loads(ok[0]) == {"tripId": "5c12d94a-ee6a-40d9-889b-1d49142248b7", "kind": "HOTEL",
                                     "status": "BOOKED", "outcome": "BOOKED"}, ok[0]
        entered = [e["stateEnteredEventDetails"]["name"] for e in ev if e["type"].endswith("StateEntered")]
        assert entered[-4:] == ["CancelHotel", "Report", "CheckCompensations", "TripBookingFailed"], entered
        assert tid not in s.bookings(), s.bookings()  # no function ran

        # the AWS CLI: CancelCar throws at 0-2 and returns at 3 (retries
        # consume the indexes)
        _, out, _ = s.cli("stepfunctions", "start-execution", "--state-machine-arn",
                          SAGA_ARN + "#CancelCarRetried", "--input", trip(tripId="mock-retried"))
        d = s.wait_done(out["executionArn"])
        assert d["status"] == "FAILED" and d["error"] == "TripBookingFailed", d
        assert json.loads(d["cause"])["leftBooked"] == {}, d["cause"]
        _, h, _ = s.cli("stepfunctions", "get-execution-history", "--execution-arn", out["executionArn"])
        ev = h["events"]
        fails = [e["lambdaFunctionFailedEventDetails"]["error"] for e in ev if e["type"] == "LambdaFunctionFailed"]
        assert fails == ["BookingFailed", "StoreUnavailable", "StoreUnavailable", "StoreUnavailable"], fails
        assert [e["type"] for e in ev].count("LambdaFunctionScheduled") == 3 + 4 + 2, ev

        # the parked path: sns:publish and states:startExecution mocked too
        arn = started(s, SAGA_ARN + "#CancelCarGivesUp", trip(tripId="mock-parked"))
        d = s.wait_done(arn)
        assert d["status"] == "FAILED" and d["error"] == "CompensationFailed", d
        ev = history(sfn, arn)
        tasks = [e["taskSucceededEventDetails"] for e in ev if e["type"] == "TaskSucceeded"]
        assert [(t["resourceType"], t["resource"]) for t in tasks] == [("sns", "publish"),
                                                                        ("states", "startExecution")], tasks
        # the compensator was not really started, nothing was published
        assert not os.path.exists(os.path.join(s.data, "sns", "SagaAlertsTopic.jsonl"))
        comp = sfn.list_executions(stateMachineArn=sm_arn("CompensateTripStateMachine"))["executions"]
        assert comp == [], comp

        # an unknown test case: ValidationException, nothing started
        rc, _, err = s.cli("stepfunctions", "start-execution", "--state-machine-arn", SAGA_ARN + "#Nope",
                           check=False)
        assert rc != 0 and "ValidationException" in err and "Nope" in err, err
        assert len(sfn.list_executions(stateMachineArn=SAGA_ARN)["executions"]) == 3


def test_service_integrations_and_express():
    tmp = tempfile.mkdtemp(prefix="sfnd-mock-")
    cfg = os.path.join(tmp, "mocks.json")
    mock_config(cfg)
    env_before = os.environ.get("SFN_MOCK_CONFIG")
    os.environ["SFN_MOCK_CONFIG"] = cfg  # the environment variable this time
    try:
        s = Sfnd()
        s.start()
    finally:
        if env_before is None:
            del os.environ["SFN_MOCK_CONFIG"]
        else:
            os.environ["SFN_MOCK_CONFIG"] = env_before
    try:
        sfn = s.boto()
        sfn.create_state_machine(name="MockMsgs", definition=json.dumps(MSGS), roleArn=ROLE)
        sfn.create_state_machine(name="MockExpress", definition=json.dumps(MSGS), roleArn=ROLE, type="EXPRESS")
        arn = started(s, sm_arn("MockMsgs") + "#Mocked", json.dumps({"msg": "hello"}))
        d = s.wait_done(arn)
        assert d["status"] == "SUCCEEDED", d
        out = json.loads(d["output"])
        assert out == {"msg": "hello", "published": {"MessageId": "mocked-sns-1"}, "sent": {"id": "mocked-sqs-1"}}, out
        ev = history(sfn, arn)
        sched = [e["taskScheduledEventDetails"] for e in ev if e["type"] == "TaskScheduled"]
        assert [(t["resourceType"], t["resource"]) for t in sched] == [("sns", "publish"), ("sqs", "sendMessage")]
        assert [e["type"] for e in ev if e["type"].startswith("Task") and "State" not in e["type"]] == \
            ["TaskScheduled", "TaskStarted", "TaskSucceeded"] * 2, ev
        assert not os.path.exists(os.path.join(s.data, "sqs", "mockq.jsonl"))
        assert not os.path.exists(os.path.join(s.data, "sns", "SagaAlertsTopic.jsonl"))

        # a state the test case does not name runs for real (the topic's file)
        d = s.wait_done(started(s, sm_arn("MockMsgs") + "#OnlySend", json.dumps({"msg": "real"})))
        assert d["status"] == "SUCCEEDED", d
        with open(os.path.join(s.data, "sns", "SagaAlertsTopic.jsonl")) as f:
            assert '"real"' in f.read()

        # an invocation no key covers ("1" only): States.Runtime
        d = s.wait_done(started(s, sm_arn("MockMsgs") + "#SendTwice", json.dumps({"msg": "x"})))
        assert d["status"] == "FAILED" and d["error"] == "States.Runtime", d
        assert "invocation 0 of state 'Send'" in d["cause"], d

        # StartSyncExecution (Express) with a test case
        r = sfn.start_sync_execution(stateMachineArn=sm_arn("MockExpress") + "#Mocked", input='{"msg": "sync"}')
        assert r["status"] == "SUCCEEDED", r
        assert json.loads(r["output"])["sent"] == {"id": "mocked-sqs-1"}, r
        assert r["stateMachineArn"] == sm_arn("MockExpress"), r
    finally:
        rc = s.stop()
        s.cleanup()
        assert rc == 0, rc


def test_restart_resumes_with_mocks():
    tmp = tempfile.mkdtemp(prefix="sfnd-mock-")
    cfg = os.path.join(tmp, "mocks.json")
    mock_config(cfg)
    s = Sfnd(extra=["--mock-config", cfg])
    try:
        s.start()
        sfn = s.boto()
        sfn.create_state_machine(name="MockSlow", definition=json.dumps(SLOW), roleArn=ROLE)
        arn = started(s, sm_arn("MockSlow") + "#FailThenOk", '{"n": 1}', name="slow-1")
        # the Wait (1 s), then invocation 0 throws: killed during the 3 s back-off
        deadline = time.time() + 10
        while time.time() < deadline:
            types = [e["type"] for e in history(sfn, arn)]
            if "TaskFailed" in types:
                break
            time.sleep(0.1)
        assert "TaskFailed" in types, types
        s.kill()
        s.start()
        d = s.wait_done(arn, timeout=30)
        assert d["status"] == "SUCCEEDED", d
        out = json.loads(d["output"])
        # lambda:invoke: the Invoke response as the engine shapes it, with the
        # mocked Payload (invocation 1's: invocation 0 threw)
        assert out["Payload"] == {"ok": True} and out["StatusCode"] == 200, out
        ev = history(sfn, arn)
        assert not check_history(ev), check_history(ev)
        types = [e["type"] for e in ev]
        assert types.count("TaskScheduled") == 2 and types.count("TaskFailed") == 1, types
        assert s.bookings() == {}, s.bookings()
    finally:
        s.cleanup()


def test_invalid_file_refused():
    tmp = tempfile.mkdtemp(prefix="sfnd-mock-")
    bad = os.path.join(tmp, "bad.json")
    with open(bad, "w") as f:
        json.dump({"StateMachines": {"M": {"TestCases": {"T": {"S": "R"}}}},
                   "MockedResponses": {"R": {"0-2": {"Return": 1}, "2": {"Return": 2}}}}, f)
    data = os.path.join(tmp, "data")
    p = subprocess.run([SFND, "--template", TEMPLATE, "--data", data, "--port", str(free_port()),
                        "--mock-config", bad], capture_output=True, text=True, env=client_env(), timeout=30)
    assert p.returncode != 0, p
    assert f"{bad}: $.MockedResponses.R['2']: overlaps \"0-2\"" in p.stderr, p.stderr
    assert not os.path.exists(data), "refused before touching the data directory"


main([test_invalid_file_refused, test_saga_failure_path_and_retries, test_service_integrations_and_express,
      test_restart_resumes_with_mocks])
