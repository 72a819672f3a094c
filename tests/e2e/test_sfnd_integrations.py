"""The service integrations of sfnd with a small template of this test's
own (written to a temporary directory): Parameters and
--parameter-overrides, an SNS topic and arn:aws:states:::sns:publish (the
line in <data>/sns/<TopicName>.jsonl), arn:aws:states:::states:startExecution
(plain, .sync:2, .waitForTaskToken; a re-dispatch after a crash finds the
same child), and EventBridgeRule events on execution status changes
(StopExecution of A starts B with the event, a failure of A starts C with
the event's detail, a success starts C with a fixed Input)."""
import json
import os
import re
import shutil
import tempfile
import time

from botocore.exceptions import ClientError

from sfnd_harness import Sfnd, main, wait_for

ACCOUNT = "123456789012"
REGION = "us-east-1"
SM = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:"
TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT}:trip-alerts"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/test"

TEMPLATE = """
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Parameters:
  FaultInjection:
    Type: String
    Default: "off"
    AllowedValues: ["on", "off"]
  Greeting:
    Type: String
    Default: hello
Resources:
  AlertTopic:
    Type: AWS::SNS::Topic
    Properties:
      TopicName: trip-alerts
  AStateMachine:
    Type: AWS::Serverless::StateMachine
    Properties:
      Name: A
      DefinitionSubstitutions:
        TopicArn: !Ref AlertTopic
        TopicName: !GetAtt AlertTopic.TopicName
        BArn: !Ref BStateMachine
        BName: !GetAtt BStateMachine.Name
        Fault: !Ref FaultInjection
        Greeting: !Ref Greeting
      Definition:
        StartAt: Route
        States:
          Route:
            Type: Choice
            Choices:
              - Variable: $.action
                StringEquals: wait
                Next: Hold
              - Variable: $.action
                StringEquals: fail
                Next: Boom
            Default: Publish
          Publish:
            Type: Task
            Resource: arn:aws:states:::sns:publish
            Parameters:
              TopicArn: ${TopicArn}
              Subject: trip parked
              Message:
                trip.$: $.tripId
                fault: ${Fault}
                greeting: ${Greeting}
                topic: ${TopicName}
                machine: ${BName}
              MessageAttributes:
                kind:
                  DataType: String
                  StringValue: alert
            ResultPath: $.published
            Next: Start
          Start:
            Type: Task
            Resource: arn:aws:states:::states:startExecution
            Parameters:
              StateMachineArn: ${BArn}
              Input:
                from.$: $$.Execution.Id
            ResultPath: $.started
            End: true
          Hold:
            Type: Wait
            Seconds: 600
            End: true
          Boom:
            Type: Fail
            Error: TripFailed
            Cause: on purpose
  BStateMachine:
    Type: AWS::Serverless::StateMachine
    Properties:
      Name: B
      Definition:
        StartAt: Echo
        States:
          Echo:
            Type: Pass
            End: true
      Events:
        OnAStopped:
          Type: EventBridgeRule
          Properties:
            Pattern:
              source: [aws.states]
              detail-type: [Step Functions Execution Status Change]
              detail:
                status: [ABORTED, TIMED_OUT]
                stateMachineArn:
                  - prefix: !Sub "arn:aws:states:${AWS::Region}:${AWS::AccountId}:stateMachine:A"
  CStateMachine:
    Type: AWS::Serverless::StateMachine
    Properties:
      Name: C
      Definition:
        StartAt: Echo
        States:
          Echo:
            Type: Pass
            End: true
      Events:
        OnAFailed:
          Type: EventBridgeRule
          Properties:
            Pattern:
              source: [aws.states]
              detail:
                status: [FAILED]
                stateMachineArn: [!Ref AStateMachine]
            InputPath: $.detail
        OnASucceeded:
          Type: EventBridgeRule
          Properties:
            Pattern:
              detail:
                status: [SUCCEEDED]
                stateMachineArn: [!GetAtt AStateMachine.Arn]
            Input: '{"fixed": true}'
  DStateMachine:
    Type: AWS::Serverless::StateMachine
    Properties:
      Name: D
      Definition:
        StartAt: Echo
        States:
          Echo:
            Type: Pass
            End: true
      Events:
        OnTripError:
          Type: EventBridgeRule
          Properties:
            # fields beyond what the ARN and the status give: matched on
            # the full event, read from the store
            Pattern:
              detail:
                error: [{prefix: Trip}]
                cause: [{exists: true}]
"""


class Env:
    """A temporary directory holding the template; sfnd runs from it."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="sfnd-integ-")
        self.template = os.path.join(self.dir, "template.yaml")
        with open(self.template, "w") as f:
            f.write(TEMPLATE)

    def sfnd(self, **kw):
        return Sfnd(template=self.template, **kw)

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def executions(sfn, name):
    return sfn.list_executions(stateMachineArn=SM + name)["executions"]


def sns_lines(s):
    path = os.path.join(s.data, "sns", "trip-alerts.jsonl")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def run_a(s, name, inp):
    sfn = s.boto()
    arn = sfn.start_execution(stateMachineArn=SM + "A", name=name, input=json.dumps(inp))["executionArn"]
    return s.wait_done(arn), arn


UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def test_publish_and_start_execution():
    env = Env()
    try:
        data = tempfile.mkdtemp(prefix="sfnd-e2e-")
        with env.sfnd(data=data) as s:
            d, arn = run_a(s, "a1", {"action": "go", "tripId": "t1"})
            assert d["status"] == "SUCCEEDED", d
            out = json.loads(d["output"])
            pub = out["published"]
            assert UUID.match(pub["MessageId"]), pub
            assert pub["SdkHttpMetadata"]["HttpStatusCode"] == 200, pub
            assert "x-amzn-RequestId" in pub["SdkHttpMetadata"]["HttpHeaders"], pub
            assert "AllHttpHeaders" in pub["SdkHttpMetadata"], pub
            assert UUID.match(pub["SdkResponseMetadata"]["RequestId"]), pub
            lines = sns_lines(s)
            assert len(lines) == 1, lines
            ln = lines[0]
            assert ln["MessageId"] == pub["MessageId"], ln
            assert ln["TopicArn"] == TOPIC_ARN and ln["Subject"] == "trip parked", ln
            assert ln["ExecutionArn"] == arn, ln
            assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", ln["Timestamp"]), ln
            assert ln["MessageAttributes"] == {"kind": {"DataType": "String", "StringValue": "alert"}}, ln
            # a Message that is not a string travels as its JSON text
            assert isinstance(ln["Message"], str), ln
            assert json.loads(ln["Message"]) == {"trip": "t1", "fault": "off", "greeting": "hello",
                                                 "topic": "trip-alerts", "machine": "B"}, ln
            mode = os.stat(os.path.join(s.data, "sns", "trip-alerts.jsonl")).st_mode & 0o777
            assert mode == 0o600, oct(mode)
            started = out["started"]
            child = started["ExecutionArn"]
            assert child.startswith(f"arn:aws:states:{REGION}:{ACCOUNT}:execution:B:"), started
            assert isinstance(started["StartDate"], int) and started["StartDate"] > 1.6e12, started
            assert started["SdkHttpMetadata"]["HttpStatusCode"] == 200, started
            sfn = s.boto()
            cd = s.wait_done(child)
            assert cd["status"] == "SUCCEEDED" and json.loads(cd["input"]) == {"from": arn}, cd
            assert [e["executionArn"] for e in executions(sfn, "B")] == [child]
            # the success of A matched C's rule with a fixed Input
            cs = wait_for(lambda: executions(sfn, "C"))
            assert len(cs) == 1, cs
            assert json.loads(sfn.describe_execution(executionArn=cs[0]["executionArn"])["input"]) == {"fixed": True}
        # a restart on the same data starts nothing again
        with env.sfnd(data=data) as s:
            sfn = s.boto()
            time.sleep(0.3)
            assert len(executions(sfn, "B")) == 1
            assert len(executions(sfn, "C")) == 1
            assert len(sns_lines(s)) == 1
        shutil.rmtree(data, ignore_errors=True)
    finally:
        env.cleanup()


def test_stop_starts_rule_machine_with_the_event():
    env = Env()
    try:
        data = tempfile.mkdtemp(prefix="sfnd-e2e-")
        with env.sfnd(data=data) as s:
            sfn = s.boto()
            arn = sfn.start_execution(stateMachineArn=SM + "A", name="held",
                                      input='{"action": "wait"}')["executionArn"]
            assert executions(sfn, "B") == []
            sfn.stop_execution(executionArn=arn, error="Operator", cause="parked by hand")
            bs = wait_for(lambda: executions(sfn, "B"))
            assert len(bs) == 1, bs
            assert UUID.match(bs[0]["name"]), bs
            d = s.wait_done(bs[0]["executionArn"])
            assert d["status"] == "SUCCEEDED", d
            ev = json.loads(d["input"])
            assert ev["version"] == "0" and UUID.match(ev["id"]), ev
            assert ev["detail-type"] == "Step Functions Execution Status Change", ev
            assert ev["source"] == "aws.states" and ev["account"] == ACCOUNT and ev["region"] == REGION, ev
            assert ev["resources"] == [arn], ev
            assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", ev["time"]), ev
            det = ev["detail"]
            assert det["executionArn"] == arn and det["stateMachineArn"] == SM + "A", det
            assert det["name"] == "held" and det["status"] == "ABORTED", det
            assert isinstance(det["startDate"], int) and isinstance(det["stopDate"], int), det
            assert det["stopDate"] >= det["startDate"], det
            assert det["input"] == '{"action": "wait"}', det
            assert det["output"] is None and det["outputDetails"] is None, det
            assert det["inputDetails"] == {"included": True}, det
            assert det["error"] == "Operator" and det["cause"] == "parked by hand", det
            assert det["redriveCount"] == 0 and det["redriveDate"] is None, det
            assert det["redriveStatus"] == "REDRIVABLE", det
            # the RUNNING event of A matched nothing; C's rules want FAILED/SUCCEEDED of A
            assert executions(sfn, "C") == []
        with env.sfnd(data=data) as s:
            time.sleep(0.3)
            assert len(executions(s.boto(), "B")) == 1
        shutil.rmtree(data, ignore_errors=True)
    finally:
        env.cleanup()


def test_failure_starts_rule_machine_with_input_path():
    env = Env()
    try:
        with env.sfnd() as s:
            d, arn = run_a(s, "f1", {"action": "fail"})
            assert d["status"] == "FAILED", d
            sfn = s.boto()
            cs = wait_for(lambda: executions(sfn, "C"))
            assert len(cs) == 1, cs
            det = json.loads(s.wait_done(cs[0]["executionArn"])["input"])
            assert det["executionArn"] == arn and det["status"] == "FAILED", det
            assert det["error"] == "TripFailed" and det["cause"] == "on purpose", det
            assert executions(sfn, "B") == []
            # a rule on the error (not a field the first look has) starts D
            ds = wait_for(lambda: executions(sfn, "D"))
            ev = json.loads(s.wait_done(ds[0]["executionArn"])["input"])
            assert len(ds) == 1 and ev["detail"]["executionArn"] == arn, ds
            # ... and nothing else did: A's RUNNING event had no error
            d2, _ = run_a(s, "ok1", {"action": "go", "tripId": "t"})
            assert d2["status"] == "SUCCEEDED", d2
            time.sleep(0.3)
            assert len(executions(sfn, "D")) == 1
    finally:
        env.cleanup()


def task_machine(sfn, name, states):
    d = {"StartAt": "T", "States": states}
    return sfn.create_state_machine(name=name, definition=json.dumps(d), roleArn=ROLE)["stateMachineArn"]


def run_failing(s, name, task):
    sfn = s.boto()
    arn = task_machine(sfn, name, {"T": dict(task, Type="Task", End=True)})
    x = sfn.start_execution(stateMachineArn=arn, input='{"x": 1}')["executionArn"]
    return s.wait_done(x)


def test_error_cases():
    env = Env()
    try:
        with env.sfnd() as s:
            d = run_failing(s, "nosuchtopic", {"Resource": "arn:aws:states:::sns:publish",
                                               "Parameters": {"TopicArn": TOPIC_ARN + "-x", "Message": "m"}})
            assert d["status"] == "FAILED" and d["error"] == "SNS.NotFoundException", d
            assert re.match(r"^Topic does not exist \(Service: Sns; Status Code: 404; Error Code: NotFound; "
                            r"Request ID: [0-9a-f-]{36}; Proxy: null\)$", d["cause"]), d
            d = run_failing(s, "nomessage", {"Resource": "arn:aws:states:::sns:publish",
                                             "Parameters": {"TopicArn": TOPIC_ARN}})
            assert d["error"] == "SNS.InvalidParameterException", d
            assert "Message" in d["cause"] and "Error Code: InvalidParameter" in d["cause"], d
            d = run_failing(s, "notopic", {"Resource": "arn:aws:states:::sns:publish",
                                           "Parameters": {"Message": "m"}})
            assert d["error"] == "SNS.InvalidParameterException" and "TopicArn" in d["cause"], d
            d = run_failing(s, "nomachine", {"Resource": "arn:aws:states:::states:startExecution",
                                             "Parameters": {"StateMachineArn": SM + "Nope"}})
            assert d["error"] == "StepFunctions.StateMachineDoesNotExistException", d
            assert "Service: AWSStepFunctions; Status Code: 400; Error Code: StateMachineDoesNotExist" in d["cause"], d
            d = run_failing(s, "badname", {"Resource": "arn:aws:states:::states:startExecution",
                                           "Parameters": {"StateMachineArn": SM + "B", "Name": "a b"}})
            assert d["error"] == "StepFunctions.InvalidNameException", d
            # the same name with another input
            sfn = s.boto()
            arn = task_machine(sfn, "named", {"T": {"Type": "Task", "Resource": "arn:aws:states:::states:startExecution",
                                                    "Parameters": {"StateMachineArn": SM + "B", "Name": "fixed",
                                                                   "Input.$": "$"}, "End": True}})
            x1 = sfn.start_execution(stateMachineArn=arn, input='{"v": 1}')["executionArn"]
            assert s.wait_done(x1)["status"] == "SUCCEEDED"
            x2 = sfn.start_execution(stateMachineArn=arn, input='{"v": 2}')["executionArn"]
            d = s.wait_done(x2)
            assert d["error"] == "StepFunctions.ExecutionAlreadyExistsException", d
            # a resource sfnd does not provide
            # (sqs:sendMessage is provided now: see test_sfnd_messaging.py)
            d = run_failing(s, "glue", {"Resource": "arn:aws:states:::glue:startJobRun",
                                        "Parameters": {"JobName": "j"}})
            assert d["error"] == "States.Runtime" and "not provided" in d["cause"], d
            assert s.raw("Sfnd.WaitExecution", {"executionArn": x1, "timeoutSeconds": 1})[0] == 200
    finally:
        env.cleanup()


def test_sync2_and_redispatch_after_crash():
    env = Env()
    try:
        data = tempfile.mkdtemp(prefix="sfnd-e2e-")
        s = env.sfnd(data=data).start()
        try:
            sfn = s.boto()
            arn = task_machine(sfn, "syncer", {"T": {"Type": "Task", "Resource": "arn:aws:states:::states:startExecution.sync:2",
                                                     "Parameters": {"StateMachineArn": SM + "B", "Input": {"k": "v"}},
                                                     "End": True}})
            x = sfn.start_execution(stateMachineArn=arn, input="{}")["executionArn"]
            d = s.wait_done(x)
            assert d["status"] == "SUCCEEDED", d
            o = json.loads(d["output"])
            assert o["Status"] == "SUCCEEDED" and o["Output"] == {"k": "v"} and o["Input"] == {"k": "v"}, o
            # .waitForTaskToken: the child carries the token; kill -9 while
            # the parent waits; the restart re-dispatches the task, which
            # must find the child it started, not start a second one
            arn = task_machine(sfn, "waiter", {"T": {"Type": "Task", "Resource": "arn:aws:states:::states:startExecution.waitForTaskToken",
                                                     "Parameters": {"StateMachineArn": SM + "B",
                                                                    "Input": {"token.$": "$$.Task.Token"}},
                                                     "End": True}})
            before = len(executions(sfn, "B"))
            x = sfn.start_execution(stateMachineArn=arn, input="{}")["executionArn"]
            wait_for(lambda: len(executions(sfn, "B")) == before + 1)
            s.kill()
            s.start()
            sfn = s.boto()
            time.sleep(0.3)
            bs = executions(sfn, "B")
            assert len(bs) == before + 1, bs
            assert sfn.describe_execution(executionArn=x)["status"] == "RUNNING"
            token = json.loads(sfn.describe_execution(executionArn=bs[0]["executionArn"])["input"])["token"]
            sfn.send_task_success(taskToken=token, output='{"done": true}')
            d = s.wait_done(x)
            assert d["status"] == "SUCCEEDED" and json.loads(d["output"]) == {"done": True}, d
        finally:
            rc = s.stop()
            s.cleanup()
            assert rc == 0
        shutil.rmtree(data, ignore_errors=True)
    finally:
        env.cleanup()


def test_parameter_overrides():
    env = Env()
    try:
        for extra in (["--parameter-overrides", "FaultInjection=on", "Greeting=hi"],
                      ["--parameter-overrides", "FaultInjection=on Greeting=hi"],
                      ["--parameter-overrides", "ParameterKey=FaultInjection,ParameterValue=on",
                       "ParameterKey=Greeting,ParameterValue=hi", "--quiet"]):
            with env.sfnd(extra=extra) as s:
                d, _ = run_a(s, "p1", {"action": "go", "tripId": "t2"})
                assert d["status"] == "SUCCEEDED", d
                msg = json.loads(sns_lines(s)[0]["Message"])
                assert msg["fault"] == "on" and msg["greeting"] == "hi", msg
        for extra, want in ((["--parameter-overrides", "Nope=1"], "no parameter 'Nope'"),
                            (["--parameter-overrides", "FaultInjection=maybe"], "AllowedValues")):
            s = env.sfnd(extra=extra)
            try:
                s.start()
                raise AssertionError(f"sfnd started with {extra}")
            except RuntimeError as e:
                assert want in str(e), e
            finally:
                s.cleanup()
    finally:
        env.cleanup()


if __name__ == "__main__":
    main([test_publish_and_start_execution, test_stop_starts_rule_machine_with_the_event,
          test_failure_starts_rule_machine_with_input_path, test_error_cases,
          test_sync2_and_redispatch_after_crash, test_parameter_overrides])
