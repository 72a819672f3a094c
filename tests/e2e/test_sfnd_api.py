"""Every Step Functions API of sfnd through the AWS CLI, boto3 and raw HTTP,
with the error cases: bad JSON bodies, unknown targets, oversized inputs,
invalid ARNs, missing or mistyped members. After the abuse the server must
still serve."""
import json
import time
import uuid

from botocore.exceptions import ClientError

from sfnd_harness import SAGA_ARN, Sfnd, check_history, fn_arn, history, main, trip

ROLE = "arn:aws:iam::123456789012:role/test"
SM = "arn:aws:states:us-east-1:123456789012:stateMachine:"
PASS = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": {"ok": 1}, "ResultPath": "$.r", "End": True}}})
WAIT = json.dumps({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 600, "Next": "D"},
                                                "D": {"Type": "Succeed"}}})
FAIL = json.dumps({"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Oops", "Cause": "on purpose"}}})


def err_code(fn, **kw):
    try:
        fn(**kw)
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]
    raise AssertionError(f"{fn.__name__} {kw} did not fail")


def test_cli_state_machines_and_executions():
    with Sfnd() as s:
        _, out, _ = s.cli("stepfunctions", "list-state-machines")
        assert SAGA_ARN in [m["stateMachineArn"] for m in out["stateMachines"]], out
        _, d, _ = s.cli("stepfunctions", "describe-state-machine", "--state-machine-arn", SAGA_ARN)
        assert d["name"] == "TripSagaStateMachine" and d["type"] == "STANDARD", d
        assert "arn:aws:lambda:us-east-1:123456789012:function:BookHotelFunction" in d["definition"]
        _, c, _ = s.cli("stepfunctions", "create-state-machine", "--name", "waiter", "--definition", WAIT,
                        "--role-arn", ROLE)
        arn = c["stateMachineArn"]
        assert arn == SM + "waiter"
        _, v, _ = s.cli("stepfunctions", "validate-state-machine-definition", "--definition", PASS)
        assert v["result"] == "OK", v
        _, x, _ = s.cli("stepfunctions", "start-execution", "--state-machine-arn", arn, "--name", "n1",
                        "--input", '{"a":1}')
        xarn = x["executionArn"]
        # same name + same input while running: the same execution
        _, x2, _ = s.cli("stepfunctions", "start-execution", "--state-machine-arn", arn, "--name", "n1",
                         "--input", '{"a":1}')
        assert x2["executionArn"] == xarn
        rc, _, err = s.cli("stepfunctions", "start-execution", "--state-machine-arn", arn, "--name", "n1",
                           "--input", '{"a":2}', check=False)
        assert rc != 0 and "ExecutionAlreadyExists" in err, err
        _, l, _ = s.cli("stepfunctions", "list-executions", "--state-machine-arn", arn, "--status-filter", "RUNNING")
        assert [e["executionArn"] for e in l["executions"]] == [xarn], l
        _, st, _ = s.cli("stepfunctions", "stop-execution", "--execution-arn", xarn, "--error", "E", "--cause", "C")
        assert "stopDate" in st
        _, d, _ = s.cli("stepfunctions", "describe-execution", "--execution-arn", xarn)
        assert d["status"] == "ABORTED" and d["error"] == "E", d
        _, h, _ = s.cli("stepfunctions", "get-execution-history", "--execution-arn", xarn, "--reverse-order")
        assert h["events"][0]["type"] == "ExecutionAborted", h["events"][0]
        _, f, _ = s.cli("stepfunctions", "describe-state-machine-for-execution", "--execution-arn", xarn)
        assert f["definition"] == WAIT, f
        _, u, _ = s.cli("stepfunctions", "update-state-machine", "--state-machine-arn", arn, "--definition", PASS)
        assert "updateDate" in u
        _, d, _ = s.cli("stepfunctions", "describe-state-machine", "--state-machine-arn", arn)
        assert d["definition"] == PASS
        # the old execution keeps the definition it ran with
        _, f, _ = s.cli("stepfunctions", "describe-state-machine-for-execution", "--execution-arn", xarn)
        assert f["definition"] == WAIT
        s.cli("stepfunctions", "delete-state-machine", "--state-machine-arn", arn)
        for args, code in [(("describe-state-machine", "--state-machine-arn", arn), "StateMachineDoesNotExist"),
                           (("describe-execution", "--execution-arn", "not-an-arn"), "InvalidArn"),
                           (("describe-execution", "--execution-arn", SM.replace("stateMachine", "execution") + "x:y"),
                            "ExecutionDoesNotExist"),
                           (("create-state-machine", "--name", "bad", "--definition", '{"StartAt":"X"}',
                             "--role-arn", ROLE), "InvalidDefinition"),
                           (("start-execution", "--state-machine-arn", SAGA_ARN, "--input", "{nope"),
                            "InvalidExecutionInput")]:
            rc, _, err = s.cli("stepfunctions", *args, check=False)
            assert rc != 0 and code in err, (args, err)


def test_boto_everything():
    with Sfnd() as s:
        sfn = s.boto()
        arn = sfn.create_state_machine(name="pass", definition=PASS, roleArn=ROLE)["stateMachineArn"]
        # idempotent create, conflicting create
        assert sfn.create_state_machine(name="pass", definition=PASS, roleArn=ROLE)["stateMachineArn"] == arn
        assert err_code(sfn.create_state_machine, name="pass", definition=FAIL, roleArn=ROLE) == ("StateMachineAlreadyExists", 400)
        assert err_code(sfn.create_state_machine, name="bad name", definition=PASS, roleArn=ROLE) == ("InvalidName", 400)
        exp = sfn.create_state_machine(name="exp", definition=PASS, roleArn=ROLE, type="EXPRESS")["stateMachineArn"]
        r = sfn.start_sync_execution(stateMachineArn=exp, input='{"z":1}')
        assert r["status"] == "SUCCEEDED" and json.loads(r["output"]) == {"z": 1, "r": {"ok": 1}}, r
        assert err_code(sfn.start_sync_execution, stateMachineArn=arn) == ("StateMachineTypeNotSupported", 400)

        # executions, list pagination
        arns = [sfn.start_execution(stateMachineArn=arn, name=f"e{i}")["executionArn"] for i in range(5)]
        for a in arns:
            assert s.wait_done(a)["status"] == "SUCCEEDED"
        seen, kw = [], {}
        while True:
            page = sfn.list_executions(stateMachineArn=arn, maxResults=2, **kw)
            seen += [e["executionArn"] for e in page["executions"]]
            if "nextToken" not in page:
                break
            kw = {"nextToken": page["nextToken"]}
        assert seen == list(reversed(arns)), seen
        assert sfn.list_executions(stateMachineArn=arn, statusFilter="FAILED")["executions"] == []
        d = sfn.describe_execution(executionArn=arns[0])
        assert d["status"] == "SUCCEEDED" and d["stopDate"] >= d["startDate"]

        # history pagination, both orders, without data
        h = history(sfn, arns[0])
        assert not check_history(h), check_history(h)
        first = sfn.get_execution_history(executionArn=arns[0], maxResults=1)
        assert first["events"][0]["type"] == "ExecutionStarted" and "nextToken" in first
        rest = sfn.get_execution_history(executionArn=arns[0], nextToken=first["nextToken"])
        assert [e["id"] for e in rest["events"]] == list(range(2, len(h) + 1))
        rev = sfn.get_execution_history(executionArn=arns[0], reverseOrder=True, includeExecutionData=False)
        assert rev["events"][0]["type"] == "ExecutionSucceeded"
        assert "output" not in rev["events"][0]["executionSucceededEventDetails"]

        # a failing machine, and redrive refused for it / for a success
        fail = sfn.create_state_machine(name="fail", definition=FAIL, roleArn=ROLE)["stateMachineArn"]
        fx = sfn.start_execution(stateMachineArn=fail)["executionArn"]
        d = s.wait_done(fx)
        assert d["status"] == "FAILED" and d["error"] == "Oops" and d["cause"] == "on purpose", d
        assert err_code(sfn.redrive_execution, executionArn=arns[0])[0] == "ExecutionNotRedrivable"

        # task tokens (.waitForTaskToken)
        tok_def = json.dumps({"StartAt": "T", "States": {"T": {
            "Type": "Task", "Resource": "arn:aws:states:::ecs:runTask.waitForTaskToken",
            "Parameters": {"QueueUrl": "q", "MessageBody": {"token.$": "$$.Task.Token"}},
            "HeartbeatSeconds": 3600, "End": True}}})
        tok_sm = sfn.create_state_machine(name="tok", definition=tok_def, roleArn=ROLE)["stateMachineArn"]
        tx = sfn.start_execution(stateMachineArn=tok_sm)["executionArn"]
        d = sfn.describe_execution(executionArn=tx)
        assert d["status"] == "RUNNING", d
        sched = [e for e in history(sfn, tx) if e["type"] == "TaskScheduled"][0]
        token = json.loads(sched["taskScheduledEventDetails"]["parameters"])["MessageBody"]["token"]
        sfn.send_task_heartbeat(taskToken=token)
        sfn.send_task_success(taskToken=token, output='{"done":true}')
        d = s.wait_done(tx)
        assert d["status"] == "SUCCEEDED" and json.loads(d["output"]) == {"done": True}, d
        assert err_code(sfn.send_task_success, taskToken=token, output="{}")[0] == "TaskDoesNotExist"
        assert err_code(sfn.send_task_failure, taskToken="garbage")[0] == "InvalidToken"
        tx2 = sfn.start_execution(stateMachineArn=tok_sm)["executionArn"]
        sched = [e for e in history(sfn, tx2) if e["type"] == "TaskScheduled"][0]
        token2 = json.loads(sched["taskScheduledEventDetails"]["parameters"])["MessageBody"]["token"]
        sfn.send_task_failure(taskToken=token2, error="Nope", cause="c")
        assert s.wait_done(tx2)["error"] == "Nope"
        # lambda:invoke.waitForTaskToken: the invocation that hands the token
        # over is TaskSubmitted (after TaskStarted) with the Invoke response
        lt_def = json.dumps({"StartAt": "T", "States": {"T": {
            "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
            "Parameters": {"FunctionName": fn_arn("CancelHotelFunction"),
                           "Payload": {"tripId": "tok-lambda", "token.$": "$$.Task.Token"}},
            "HeartbeatSeconds": 600, "End": True}}})
        lt_sm = sfn.create_state_machine(name="toklambda", definition=lt_def, roleArn=ROLE)["stateMachineArn"]
        lx = sfn.start_execution(stateMachineArn=lt_sm)["executionArn"]
        for _ in range(200):
            evs = history(sfn, lx)
            if any(e["type"] == "TaskSubmitted" for e in evs):
                break
            time.sleep(0.05)
        types = [e["type"] for e in evs]
        assert types == ["ExecutionStarted", "TaskStateEntered", "TaskScheduled", "TaskStarted", "TaskSubmitted"], types
        assert evs[2]["taskScheduledEventDetails"]["heartbeatInSeconds"] == 600, evs[2]
        sub = evs[4]["taskSubmittedEventDetails"]
        assert sub["resourceType"] == "lambda" and sub["resource"] == "invoke.waitForTaskToken", sub
        out = json.loads(sub["output"])
        assert out["StatusCode"] == 200 and "Payload" in out and "SdkHttpMetadata" in out, out
        ltok = json.loads(evs[2]["taskScheduledEventDetails"]["parameters"])["Payload"]["token"]
        sfn.send_task_success(taskToken=ltok, output='{"approved": true}')
        d = s.wait_done(lx)
        assert d["status"] == "SUCCEEDED" and json.loads(d["output"]) == {"approved": True}, d

        # state machine listing and deletion
        names = [m["name"] for m in sfn.list_state_machines()["stateMachines"]]
        assert {"pass", "exp", "fail", "tok", "TripSagaStateMachine"} <= set(names), names
        p1 = sfn.list_state_machines(maxResults=2)
        assert len(p1["stateMachines"]) == 2 and "nextToken" in p1
        sfn.delete_state_machine(stateMachineArn=fail)
        assert err_code(sfn.describe_state_machine, stateMachineArn=fail)[0] == "StateMachineDoesNotExist"
        assert err_code(sfn.start_execution, stateMachineArn=fail)[0] == "StateMachineDoesNotExist"
        v = sfn.validate_state_machine_definition(definition='{"StartAt": "Nowhere", "States": {}}')
        assert v["result"] == "FAIL" and v["diagnostics"], v
        # AWS's words for what is not JSON: a definition (no location), an input (Jackson's)
        v = sfn.validate_state_machine_definition(definition="not json")
        assert v["diagnostics"] == [{"severity": "ERROR", "code": "SCHEMA_VALIDATION_FAILED",
                                     "message": "Definition must be a valid JSON object"}], v
        try:
            sfn.start_execution(stateMachineArn=arn, input="not some json")
            raise AssertionError("input accepted")
        except sfn.exceptions.InvalidExecutionInput as e:
            assert e.response["Error"]["Message"] == (
                "Invalid State Machine Execution Input: 'Unrecognized token 'not': was expecting (JSON String, "
                "Number, Array, Object or token 'null', 'true' or 'false')'"), e.response
        # a Map Label refusal is AWS's ValueError, quoting the definition
        bad = ('{"StartAt": "M", "States": {"M": {"Type": "Map", "Label": "a:b", "End": true, '
               '"ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}}}}')
        try:
            sfn.create_state_machine(name="badlabel", definition=bad, roleArn=ROLE)
            raise AssertionError("label accepted")
        except sfn.exceptions.InvalidDefinition as e:
            assert e.response["Error"]["Message"] == (
                "Error=ValueError Args=[\"Label contains invalid character: ':'\"] in definition '%s'." % bad), e.response


def test_redrive_restarts_from_the_failed_state():
    """RedriveExecution: a failed Standard execution runs again from the state
    that failed (the earlier states are not re-run), under the same ARN."""
    with Sfnd() as s:
        sfn = s.boto()
        d = json.dumps({"StartAt": "Prep", "States": {
            "Prep": {"Type": "Pass", "Result": "prepared", "ResultPath": "$.prep", "Next": "Cancel"},
            "Cancel": {"Type": "Task", "Resource": fn_arn("CancelHotelFunction"), "ResultPath": "$.r", "End": True}}})
        sm = sfn.create_state_machine(name="redrive", definition=d, roleArn=ROLE)["stateMachineArn"]
        # the cancel fails once (failCancelHotel: 1, no Retry), then works
        x = sfn.start_execution(stateMachineArn=sm, input=json.dumps({"tripId": "redrive-1", "failCancelHotel": 1}))["executionArn"]
        d1 = s.wait_done(x)
        assert d1["status"] == "FAILED" and d1["error"] == "CancelFailed", d1
        assert d1.get("redriveStatus") == "REDRIVABLE", d1
        r = sfn.redrive_execution(executionArn=x)
        assert "redriveDate" in r
        d2 = s.wait_done(x)
        assert d2["status"] == "SUCCEEDED" and d2["redriveCount"] == 1, d2
        out = json.loads(d2["output"])
        assert out["prep"] == "prepared" and out["r"]["status"] == "CANCELLED", out
        types = [e["type"] for e in history(sfn, x)]
        assert types.count("ExecutionFailed") == 1 and types.count("ExecutionRedriven") == 1, types
        assert types.count("ExecutionSucceeded") == 1 and types[-1] == "ExecutionSucceeded", types
        assert types.count("PassStateEntered") == 1, types  # Prep is not run again
        h = history(sfn, x)
        assert [e["id"] for e in h] == list(range(1, len(h) + 1))
        # the redrive keeps the first ending in the history: one more terminal event than usual
        assert check_history(h) in ([], ["2 terminal events"]), check_history(h)
        # a succeeded execution cannot be redriven
        assert err_code(sfn.redrive_execution, executionArn=x)[0] == "ExecutionNotRedrivable"


def test_generated_names_are_uuids_in_start_order():
    """StartExecution without a name: the name is a UUID (AWS's rule), of
    version 7, whose first 48 bits are the start time in milliseconds; names
    made up in turn sort in turn, and the executions are found by them."""
    with Sfnd() as s:
        sfn = s.boto()
        sm = sfn.create_state_machine(name="named", definition=PASS, roleArn=ROLE)["stateMachineArn"]
        names = []
        for _ in range(3):
            t0 = int(time.time() * 1000)
            x = sfn.start_execution(stateMachineArn=sm)["executionArn"]
            t1 = int(time.time() * 1000)
            name = x.rsplit(":", 1)[1]
            u = uuid.UUID(name)
            assert str(u) == name and u.version == 7 and u.variant == uuid.RFC_4122, name
            assert t0 - 5 <= u.int >> 80 <= t1 + 5, (name, t0, t1)
            assert sfn.describe_execution(executionArn=x)["name"] == name
            names.append(name)
            time.sleep(0.002)
        assert names == sorted(names) and len(set(names)) == 3, names


def test_one_sfnd_per_data_directory():
    """A second sfnd on a data directory in use exits at once with a clear
    message, and the first one goes on serving; once the first is stopped,
    the directory can be opened again, its executions intact."""
    with Sfnd() as s:
        sfn = s.boto()
        sm = sfn.create_state_machine(name="owner", definition=PASS, roleArn=ROLE)["stateMachineArn"]
        x = sfn.start_execution(stateMachineArn=sm, name="kept")["executionArn"]
        assert s.wait_done(x)["status"] == "SUCCEEDED"
        second = Sfnd(data=s.data)
        try:
            second.start(timeout=10)
            raise AssertionError("a second sfnd started on the same data directory")
        except RuntimeError as e:
            assert "in use by another process" in str(e), str(e)
        finally:
            second.cleanup()
        assert sfn.describe_execution(executionArn=x)["status"] == "SUCCEEDED"
        data = s.data
        assert s.stop() == 0
        with Sfnd(data=data) as again:
            d = again.boto().describe_execution(executionArn=x)
            assert d["status"] == "SUCCEEDED" and json.loads(d["output"]) == {"r": {"ok": 1}}, d


def test_raw_errors():
    with Sfnd() as s:
        cases = [
            ("AWSStepFunctions.ListStateMachines", b"{bad json", "SerializationException"),
            ("AWSStepFunctions.ListStateMachines", b"[]", "SerializationException"),
            ("AWSStepFunctions.ListStateMachines", b"\xff\xfe", "SerializationException"),
            ("AWSStepFunctions.NoSuchThing", b"{}", "UnknownOperationException"),
            ("Other.ListStateMachines", b"{}", "UnknownOperationException"),
            (None, b"{}", "UnknownOperationException"),
            ("AWSStepFunctions.DescribeExecution", b"{}", "ValidationException"),
            ("AWSStepFunctions.DescribeExecution", b'{"executionArn": 42}', "SerializationException"),
            ("AWSStepFunctions.DescribeExecution", b'{"executionArn": "arn:aws:states:us-east-1:1:stateMachine:x"}', "InvalidArn"),
            ("AWSStepFunctions.DescribeStateMachine", b'{"stateMachineArn": "arn:aws:states:us-east-1:1:execution:x:y"}', "InvalidArn"),
            ("AWSStepFunctions.DescribeStateMachine", b'{"stateMachineArn": "xyz"}', "InvalidArn"),
            ("AWSStepFunctions.ListExecutions", b'{"stateMachineArn": "%s", "maxResults": "ten"}' % SAGA_ARN.encode(), "SerializationException"),
            ("AWSStepFunctions.ListExecutions", b'{"stateMachineArn": "%s", "statusFilter": "NOPE"}' % SAGA_ARN.encode(), "ValidationException"),
            ("AWSStepFunctions.ListExecutions", b'{"stateMachineArn": "%s", "nextToken": "forged"}' % SAGA_ARN.encode(), "InvalidToken"),
            ("AWSStepFunctions.StartExecution", b'{"stateMachineArn": "%s", "name": "a/b"}' % SAGA_ARN.encode(), "InvalidName"),
            ("AWSStepFunctions.StartExecution", b'{"stateMachineArn": "%s", "input": "[1,"}' % SAGA_ARN.encode(), "InvalidExecutionInput"),
            ("AWSStepFunctions.CreateStateMachine", b'{"name": "x", "definition": "{}"}', "ValidationException"),
            ("AWSStepFunctions.SendTaskSuccess", b'{"taskToken": "t"}', "ValidationException"),
        ]
        for target, body, code in cases:
            st, r = s.raw(target, body)
            assert st == 400 and r["__type"] == code, (target, body, st, r)
            assert isinstance(r.get("message"), str)
        # messages as AWS words them: an Express execution is not for
        # DescribeExecution/StopExecution; a long value is shown unless the
        # member is sensitive; Jackson's words for a bad input; AWS's order of
        # the status enum
        xp = "arn:aws:states:us-east-1:123456789012:express:TripSagaStateMachine:n:0f0e"
        words = [
            ("AWSStepFunctions.DescribeExecution", {"executionArn": xp},
             "Invalid Arn: 'Resource type not valid in this context: express'"),
            ("AWSStepFunctions.StopExecution", {"executionArn": xp},
             "Invalid Arn: 'Resource type not valid in this context: express'"),
            ("AWSStepFunctions.ListExecutions", {"stateMachineArn": SAGA_ARN, "nextToken": "x" * 3097},
             "1 validation error detected: Value '%s' at 'nextToken' failed to satisfy constraint: "
             "Member must have length less than or equal to 3096" % ("x" * 3097)),
            ("AWSStepFunctions.ListExecutions", {"stateMachineArn": SAGA_ARN, "statusFilter": "succeeded"},
             "1 validation error detected: Value 'succeeded' at 'statusFilter' failed to satisfy constraint: "
             "Member must satisfy enum value set: [SUCCEEDED, TIMED_OUT, PENDING_REDRIVE, ABORTED, FAILED, "
             "RUNNING]"),
            ("AWSStepFunctions.StartExecution", {"stateMachineArn": SAGA_ARN, "input": ""},
             "Invalid State Machine Execution Input: 'Invalid execution input.'"),
            ("AWSStepFunctions.StartExecution", {"stateMachineArn": SAGA_ARN, "input": "{'not': 'json'"},
             "Invalid State Machine Execution Input: 'Unexpected character (''' (code 39)): was expecting "
             "double-quote to start field name'"),
        ]
        for target, body, msg in words:
            st, r = s.raw(target, body)
            assert st == 400 and r["message"] == msg, (target, r)
        st, r = s.raw("AWSStepFunctions.CreateStateMachine",
                      {"name": "big", "roleArn": "arn:aws:iam::1:role/r", "definition": "x" * 1048577})
        assert st == 400 and r["message"].startswith("1 validation error detected: Value at 'definition'"), r
        # oversized execution input (> 256 KiB)
        big = json.dumps({"x": "y" * 270000})
        st, r = s.raw("AWSStepFunctions.StartExecution", {"stateMachineArn": SAGA_ARN, "input": big})
        assert st == 400 and r["__type"] == "ValidationException", r
        sfn = s.boto()
        assert err_code(sfn.start_execution, stateMachineArn=SAGA_ARN, input=big)[0] == "ValidationException"
        # a body over the server's bound is refused without killing it
        st, _ = s.raw("AWSStepFunctions.StartExecution", b"{" + b" " * (3 * 1024 * 1024) + b"}")
        assert st == 413, st
        # garbage of every shape, then the server still answers properly
        import random
        rnd = random.Random(7)
        for _ in range(200):
            body = bytes(rnd.randrange(256) for _ in range(rnd.randrange(64)))
            st, _ = s.raw("AWSStepFunctions." + rnd.choice(["StartExecution", "DescribeExecution", "GetExecutionHistory",
                                                            "SendTaskSuccess", "CreateStateMachine"]), body)
            assert st in (400, 200), st
        x = sfn.start_execution(stateMachineArn=SAGA_ARN, input=trip(tripId=str(uuid.uuid4())))["executionArn"]
        assert s.wait_done(x)["status"] == "SUCCEEDED"
        st, r = s.raw("AWSStepFunctions.DescribeExecution", {"executionArn": x})
        assert st == 200 and isinstance(r["startDate"], float)


if __name__ == "__main__":
    main([test_raw_errors, test_cli_state_machines_and_executions, test_boto_everything,
          test_redrive_restarts_from_the_failed_state, test_generated_names_are_uuids_in_start_order,
          test_one_sfnd_per_data_directory])
