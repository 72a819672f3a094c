"""The messaging integrations of sfnd with a template of this test's own:
arn:aws:states:::sqs:sendMessage (a standard and a FIFO AWS::SQS::Queue,
<data>/sqs/<QueueName>.jsonl, MD5OfMessageBody, MessageAttributes'
MD5, SequenceNumber, .waitForTaskToken), arn:aws:states:::events:putEvents
(the default bus and an AWS::Events::EventBus, <data>/events/<Bus>.jsonl,
Entries/FailedEntryCount, EventBridge.FailedEntry), and the rules fed by
it: an AWS::Events::Rule targeting a state machine (InputPath) and a
state machine's EventBridgeRule event (Input), started once even after a
restart."""
import hashlib
import json
import os
import re
import shutil
import struct
import tempfile
import time

from sfnd_harness import Sfnd, main, wait_for

ACCOUNT = "123456789012"
REGION = "us-east-1"
SM = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/test"
QURL = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/"

TEMPLATE = """
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Resources:
  OrdersQueue:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: orders
  AuditQueue:
    Type: AWS::SQS::Queue
    Properties:
      FifoQueue: true
      ContentBasedDeduplication: true
  TripBus:
    Type: AWS::Events::EventBus
    Properties:
      Name: trips
  BookedRule:
    Type: AWS::Events::Rule
    Properties:
      EventBusName: !Ref TripBus
      EventPattern:
        source: [trip.app]
        detail-type: [TripBooked]
      Targets:
        - Id: toR
          Arn: !Ref RStateMachine
          InputPath: $.detail
        - Id: elsewhere
          Arn: arn:aws:lambda:us-east-1:123456789012:function:nothere
  MStateMachine:
    Type: AWS::Serverless::StateMachine
    Properties:
      Name: M
      DefinitionSubstitutions:
        Orders: !Ref OrdersQueue
        Audit: !GetAtt AuditQueue.QueueUrl
        AuditName: !GetAtt AuditQueue.QueueName
        Bus: !GetAtt TripBus.Arn
      Definition:
        StartAt: Send
        States:
          Send:
            Type: Task
            Resource: arn:aws:states:::sqs:sendMessage
            Parameters:
              QueueUrl: ${Orders}
              MessageBody:
                trip.$: $.trip
              MessageAttributes:
                kind: {DataType: String, StringValue: order}
                n: {DataType: Number, StringValue: "3"}
            ResultPath: $.sqs
            Next: Audit
          Audit:
            Type: Task
            Resource: arn:aws:states:::sqs:sendMessage
            Parameters:
              QueueUrl: ${Audit}
              MessageBody: audited
              MessageGroupId: g1
            ResultPath: $.fifo
            Next: Put
          Put:
            Type: Task
            Resource: arn:aws:states:::events:putEvents
            Parameters:
              Entries:
                - EventBusName: ${Bus}
                  Source: trip.app
                  DetailType: TripBooked
                  Detail:
                    trip.$: $.trip
                    queue: ${AuditName}
                - Source: trip.default
                  DetailType: Note
                  Detail: '{"x": 1}'
            ResultPath: $.events
            End: true
  RStateMachine:
    Type: AWS::Serverless::StateMachine
    Properties:
      Name: R
      Definition:
        StartAt: Done
        States:
          Done: {Type: Pass, End: true}
  DStateMachine:
    Type: AWS::Serverless::StateMachine
    Properties:
      Name: D
      Definition:
        StartAt: Done
        States:
          Done: {Type: Pass, End: true}
      Events:
        OnNote:
          Type: EventBridgeRule
          Properties:
            Pattern:
              source: [trip.default]
              detail: {x: [{numeric: [">", 0]}]}
            Input: '{"noted": true}'
"""


class Env:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="sfnd-msg-")
        self.template = os.path.join(self.dir, "template.yaml")
        with open(self.template, "w") as f:
            f.write(TEMPLATE)

    def sfnd(self, **kw):
        return Sfnd(template=self.template, **kw)

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def lines(s, sub, name):
    path = os.path.join(s.data, sub, name + ".jsonl")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(x) for x in f if x.strip()]


def executions(sfn, name):
    return sfn.list_executions(stateMachineArn=SM + name)["executions"]


def attrs_md5(attrs):
    """SQS's MD5OfMessageAttributes, as botocore checks it."""
    buf = b""
    for name in sorted(attrs):
        a = attrs[name]
        for part in (name.encode(), a["DataType"].encode()):
            buf += struct.pack("!I", len(part)) + part
        v = a["StringValue"].encode()
        buf += b"\x01" + struct.pack("!I", len(v)) + v
    return hashlib.md5(buf).hexdigest()


UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def test_send_put_and_rules():
    env = Env()
    try:
        data = tempfile.mkdtemp(prefix="sfnd-e2e-")
        with env.sfnd(data=data) as s:
            sfn = s.boto()
            arn = sfn.start_execution(stateMachineArn=SM + "M", name="m1",
                                      input=json.dumps({"trip": "t1"}))["executionArn"]
            d = s.wait_done(arn)
            assert d["status"] == "SUCCEEDED", d
            out = json.loads(d["output"])
            body = json.dumps({"trip": "t1"}, separators=(",", ":"))
            sq = out["sqs"]
            assert UUID.match(sq["MessageId"]), sq
            assert sq["MD5OfMessageBody"] == hashlib.md5(body.encode()).hexdigest(), sq
            attrs = {"kind": {"DataType": "String", "StringValue": "order"},
                     "n": {"DataType": "Number", "StringValue": "3"}}
            assert sq["MD5OfMessageAttributes"] == attrs_md5(attrs), sq
            assert "SequenceNumber" not in sq, sq
            assert sq["SdkHttpMetadata"]["HttpStatusCode"] == 200, sq
            ln = lines(s, "sqs", "orders")
            assert len(ln) == 1 and ln[0]["MessageId"] == sq["MessageId"], ln
            assert ln[0]["MessageBody"] == body and ln[0]["QueueUrl"] == QURL + "orders", ln
            assert ln[0]["QueueArn"] == f"arn:aws:sqs:{REGION}:{ACCOUNT}:orders", ln
            assert ln[0]["MessageAttributes"] == attrs and ln[0]["ExecutionArn"] == arn, ln
            mode = os.stat(os.path.join(s.data, "sqs", "orders.jsonl")).st_mode & 0o777
            assert mode == 0o600, oct(mode)
            fifo = out["fifo"]
            assert re.match(r"^\d{20}$", fifo["SequenceNumber"]), fifo
            assert fifo["MD5OfMessageBody"] == hashlib.md5(b"audited").hexdigest(), fifo
            fl = lines(s, "sqs", "AuditQueue.fifo")
            assert len(fl) == 1 and fl[0]["MessageGroupId"] == "g1", fl
            assert fl[0]["SequenceNumber"] == fifo["SequenceNumber"], fl
            ev = out["events"]
            assert ev["FailedEntryCount"] == 0 and len(ev["Entries"]) == 2, ev
            assert all(UUID.match(e["EventId"]) for e in ev["Entries"]), ev
            tl = lines(s, "events", "trips")
            assert len(tl) == 1, tl
            e0 = tl[0]
            assert e0["id"] == ev["Entries"][0]["EventId"], e0
            assert e0["source"] == "trip.app" and e0["detail-type"] == "TripBooked", e0
            assert e0["detail"] == {"trip": "t1", "queue": "AuditQueue.fifo"}, e0
            assert e0["resources"] == [arn, SM + "M"], e0
            assert e0["account"] == ACCOUNT and e0["region"] == REGION and e0["version"] == "0", e0
            assert e0["EventBusName"] == "trips", e0
            dl = lines(s, "events", "default")
            assert len(dl) == 1 and dl[0]["detail"] == {"x": 1}, dl
            # the AWS::Events::Rule on bus trips started R with the detail
            rs = wait_for(lambda: executions(sfn, "R"))
            assert len(rs) == 1, rs
            rd = s.wait_done(rs[0]["executionArn"])
            assert json.loads(rd["input"]) == {"trip": "t1", "queue": "AuditQueue.fifo"}, rd
            # D's EventBridgeRule on the default bus, with its fixed Input
            ds = wait_for(lambda: executions(sfn, "D"))
            assert len(ds) == 1, ds
            dd = s.wait_done(ds[0]["executionArn"])
            assert json.loads(dd["input"]) == {"noted": True}, dd
        # a restart on the same data starts nothing again
        with env.sfnd(data=data) as s:
            sfn = s.boto()
            time.sleep(0.3)
            assert len(executions(sfn, "R")) == 1 and len(executions(sfn, "D")) == 1
            assert len(lines(s, "sqs", "orders")) == 1
        shutil.rmtree(data, ignore_errors=True)
    finally:
        env.cleanup()


def one_task(sfn, name, resource, params, catch=True):
    state = {"Type": "Task", "Resource": resource, "Parameters": params, "End": True}
    if catch:
        state["Catch"] = [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}]
    d = {"StartAt": "T", "States": {"T": state}}
    if catch:
        d["States"]["Caught"] = {"Type": "Pass", "End": True}
    return sfn.create_state_machine(name=name, definition=json.dumps(d), roleArn=ROLE)["stateMachineArn"]


def run(s, sm, inp=None):
    sfn = s.boto()
    arn = sfn.start_execution(stateMachineArn=sm, input=json.dumps(inp or {}))["executionArn"]
    return s.wait_done(arn)


def test_error_cases():
    env = Env()
    try:
        with env.sfnd() as s:
            sfn = s.boto()
            send = "arn:aws:states:::sqs:sendMessage"
            put = "arn:aws:states:::events:putEvents"
            cases = [
                (send, {"QueueUrl": QURL + "nope", "MessageBody": "x"},
                 "SQS.QueueDoesNotExistException", "The specified queue does not exist"),
                (send, {"QueueUrl": QURL + "orders"}, "SQS.AmazonSQSException",
                 "The request must contain the parameter MessageBody."),
                (send, {"QueueUrl": QURL + "AuditQueue.fifo", "MessageBody": "x"},
                 "SQS.AmazonSQSException", "The request must contain the parameter MessageGroupId."),
                (send, {"QueueUrl": QURL + "orders", "MessageBody": "x", "DelaySeconds": 901},
                 "SQS.AmazonSQSException", "Value"),
                (send, {"QueueUrl": QURL + "orders", "MessageBody": "x",
                        "MessageAttributes": {"a": {"DataType": "Bogus", "StringValue": "1"}}},
                 "SQS.AmazonSQSException", "The message attribute 'a' has an invalid"),
                (put, {}, "EventBridge.AmazonEventBridgeException", "1 validation error detected"),
                (put, {"Entries": [{"Source": "s", "DetailType": "d", "Detail": {},
                                    "EventBusName": "nope"}]},
                 "EventBridge.FailedEntry", '"ErrorCode":"ResourceNotFoundException"'),
                (put, {"Entries": [{"DetailType": "d", "Detail": {}}]},
                 "EventBridge.FailedEntry", '"FailedEntryCount":1'),
                (put, {"Entries": [{"Source": "s", "DetailType": "d", "Detail": "not json"}]},
                 "EventBridge.FailedEntry", "MalformedDetail"),
            ]
            for i, (res, params, err, cause) in enumerate(cases):
                sm = one_task(sfn, f"err{i}", res, params, catch=False)
                d = run(s, sm)
                assert d["status"] == "FAILED", (i, d)
                assert d["error"] == err, (i, d["error"], d.get("cause"))
                assert cause in d["cause"], (i, d["cause"])
                if err.startswith("SQS."):
                    assert "(Service: AmazonSQS; Status Code: " in d["cause"], d["cause"]
            assert lines(s, "sqs", "orders") == []
    finally:
        env.cleanup()


def test_wait_for_task_token():
    env = Env()
    try:
        with env.sfnd() as s:
            sfn = s.boto()
            sm = one_task(sfn, "tok", "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                          {"QueueUrl": QURL + "orders", "MessageBody": {"token.$": "$$.Task.Token"}},
                          catch=False)
            arn = sfn.start_execution(stateMachineArn=sm, input="{}")["executionArn"]
            ln = wait_for(lambda: lines(s, "sqs", "orders"))
            token = json.loads(ln[0]["MessageBody"])["token"]
            assert sfn.describe_execution(executionArn=arn)["status"] == "RUNNING"
            sfn.send_task_success(taskToken=token, output='{"ok": 1}')
            d = s.wait_done(arn)
            assert d["status"] == "SUCCEEDED" and json.loads(d["output"]) == {"ok": 1}, d
            # AWS: the SendMessage that hands the token over is TaskSubmitted,
            # with its response, between TaskStarted and the token's answer
            evs = sfn.get_execution_history(executionArn=arn)["events"]
            types = [e["type"] for e in evs]
            assert types == ["ExecutionStarted", "TaskStateEntered", "TaskScheduled", "TaskStarted",
                             "TaskSubmitted", "TaskSucceeded", "TaskStateExited", "ExecutionSucceeded"], types
            sub = evs[4]["taskSubmittedEventDetails"]
            assert sub["resourceType"] == "sqs" and sub["resource"] == "sendMessage.waitForTaskToken", sub
            out = json.loads(sub["output"])
            assert out["MessageId"] == ln[0]["MessageId"] and "MD5OfMessageBody" in out, out
            assert "SdkHttpMetadata" in out and "SdkResponseMetadata" in out, out
            sm2 = one_task(sfn, "tok2", "arn:aws:states:::events:putEvents.waitForTaskToken",
                           {"Entries": [{"Source": "s", "DetailType": "d",
                                         "Detail": {"token.$": "$$.Task.Token"}}]}, catch=False)
            arn2 = sfn.start_execution(stateMachineArn=sm2, input="{}")["executionArn"]
            ev = wait_for(lambda: lines(s, "events", "default"))
            sfn.send_task_failure(taskToken=ev[0]["detail"]["token"], error="Nope", cause="c")
            d2 = s.wait_done(arn2)
            assert d2["status"] == "FAILED" and d2["error"] == "Nope", d2
    finally:
        env.cleanup()


if __name__ == "__main__":
    main([test_send_put_and_rules, test_error_cases, test_wait_for_task_token])
