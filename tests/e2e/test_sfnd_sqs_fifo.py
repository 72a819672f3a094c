"""sqs:sendMessage to the local FIFO queues as SQS: a MessageDeduplicationId
(or, with ContentBasedDeduplication, the body's SHA-256) sent again within
5 minutes is accepted with the first message's MessageId and SequenceNumber
and writes nothing; a restart keeps the window (read back from
<data>/sqs/<Queue>.jsonl), so a task sent again after a crash is not
delivered twice; MessageGroupId is required (MissingParameter); ids are 1 to
128 characters; DelaySeconds on a standard queue is recorded with
SentTimestamp and DeliverAtMs."""
import hashlib
import json
import os
import shutil
import tempfile

from sfnd_harness import Sfnd, main

ACCOUNT = "123456789012"
REGION = "us-east-1"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/test"
QURL = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/"

TEMPLATE = """AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Resources:
  OrdersQueue:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: orders.fifo
      FifoQueue: true
  ContentQueue:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: content.fifo
      FifoQueue: true
      ContentBasedDeduplication: true
  PlainQueue:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: plain
"""


class Env:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="sfnd-fifo-")
        self.data = os.path.join(self.dir, "data")
        os.makedirs(self.data)
        self.template = os.path.join(self.dir, "template.yaml")
        with open(self.template, "w") as f:
            f.write(TEMPLATE)
        self.n = 0

    def lines(self, queue):
        path = os.path.join(self.data, "sqs", queue + ".jsonl")
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return [json.loads(x) for x in f if x.strip()]


ENV = Env()


def send(d, params):
    """One execution of a machine with one sqs:sendMessage task: DescribeExecution."""
    ENV.n += 1
    sfn = d.boto()
    definition = {"StartAt": "S", "States": {"S": {
        "Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage", "Parameters": params,
        "End": True}}}
    arn = sfn.create_state_machine(name=f"send{ENV.n}", definition=json.dumps(definition),
                                   roleArn=ROLE)["stateMachineArn"]
    ex = sfn.start_execution(stateMachineArn=arn, input="{}")["executionArn"]
    return d.wait_done(ex)


def ok(r):
    assert r["status"] == "SUCCEEDED", r
    return json.loads(r["output"])


def test_dedup_window_and_restart():
    q = QURL + "orders.fifo"
    d = Sfnd(template=ENV.template, data=ENV.data).start()
    try:
        first = ok(send(d, {"QueueUrl": q, "MessageBody": "one", "MessageGroupId": "g1",
                            "MessageDeduplicationId": "d1"}))
        assert len(first["SequenceNumber"]) == 20, first
        again = ok(send(d, {"QueueUrl": q, "MessageBody": "two", "MessageGroupId": "g1",
                            "MessageDeduplicationId": "d1"}))
        assert again["MessageId"] == first["MessageId"], (first, again)
        assert again["SequenceNumber"] == first["SequenceNumber"], (first, again)
        assert again["MD5OfMessageBody"] == hashlib.md5(b"two").hexdigest(), again
        assert len(ENV.lines("orders.fifo")) == 1, ENV.lines("orders.fifo")
        other = ok(send(d, {"QueueUrl": q, "MessageBody": "one", "MessageGroupId": "g1",
                            "MessageDeduplicationId": "d2"}))
        assert other["MessageId"] != first["MessageId"], other
        assert int(other["SequenceNumber"]) > int(first["SequenceNumber"]), (first, other)
        lines = ENV.lines("orders.fifo")
        assert [x["MessageDeduplicationId"] for x in lines] == ["d1", "d2"], lines
        assert lines[0]["MessageId"] == first["MessageId"] and lines[0]["MessageBody"] == "one"
    finally:
        assert d.stop() == 0
    # a new process: the window comes back from the queue's file
    d = Sfnd(template=ENV.template, data=ENV.data).start()
    try:
        after = ok(send(d, {"QueueUrl": q, "MessageBody": "three", "MessageGroupId": "g2",
                            "MessageDeduplicationId": "d1"}))
        assert after["MessageId"] == first["MessageId"], (first, after)
        assert len(ENV.lines("orders.fifo")) == 2
    finally:
        assert d.stop() == 0


def test_content_dedup_delay_and_errors():
    d = Sfnd(template=ENV.template, data=ENV.data).start()
    try:
        q = QURL + "content.fifo"
        a = ok(send(d, {"QueueUrl": q, "MessageBody": "same body", "MessageGroupId": "g"}))
        b = ok(send(d, {"QueueUrl": q, "MessageBody": "same body", "MessageGroupId": "g"}))
        c = ok(send(d, {"QueueUrl": q, "MessageBody": "other body", "MessageGroupId": "g"}))
        assert a["MessageId"] == b["MessageId"] != c["MessageId"], (a, b, c)
        lines = ENV.lines("content.fifo")
        assert len(lines) == 2, lines
        assert lines[0]["MessageDeduplicationId"] == hashlib.sha256(b"same body").hexdigest()

        r = send(d, {"QueueUrl": QURL + "orders.fifo", "MessageBody": "x"})
        assert r["status"] == "FAILED" and r["error"] == "SQS.AmazonSQSException", r
        assert "The request must contain the parameter MessageGroupId." in r["cause"], r
        assert "Error Code: MissingParameter" in r["cause"], r
        r = send(d, {"QueueUrl": QURL + "orders.fifo", "MessageBody": "x", "MessageGroupId": "g",
                     "MessageDeduplicationId": "x" * 129})
        assert r["status"] == "FAILED" and "Error Code: InvalidParameterValue" in r["cause"], r
        r = send(d, {"QueueUrl": QURL + "orders.fifo", "MessageBody": "x", "MessageGroupId": "g h",
                     "MessageDeduplicationId": "ok"})
        assert r["status"] == "FAILED" and "MessageGroupId" in r["cause"], r
        r = send(d, {"QueueUrl": QURL + "orders.fifo", "MessageBody": "x", "MessageGroupId": "g"})
        assert r["status"] == "FAILED" and "ContentBasedDeduplication" in r["cause"], r
        assert len(ENV.lines("orders.fifo")) == 2  # none of these wrote

        ok(send(d, {"QueueUrl": QURL + "plain", "MessageBody": "later", "DelaySeconds": 30}))
        line = ENV.lines("plain")[-1]
        assert line["DelaySeconds"] == 30, line
        assert line["DeliverAtMs"] - int(line["SentTimestamp"]) == 30000, line
        assert "SequenceNumber" not in line and "MessageDeduplicationId" not in line, line
    finally:
        assert d.stop() == 0


if __name__ == "__main__":
    try:
        main([test_dedup_window_and_restart, test_content_dedup_delay_and_errors])
    finally:
        shutil.rmtree(ENV.dir, ignore_errors=True)
