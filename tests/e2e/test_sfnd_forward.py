"""dynamodb:* and aws-sdk:* tasks forwarded by sfnd to an endpoint
(--endpoint dynamodb=URL, SFN_ENDPOINT_DYNAMODB), signed with SigV4: moto's
server with signature and IAM checks on (tests/saga/dynamodb_env.py's
MotoStore: its reset-auth switch, the one behind INITIAL_NO_AUTH_ACTION_COUNT)
is the DynamoDB here.

- putItem, getItem, updateItem (ReturnValues), deleteItem through the
  optimized integration, a failing ConditionExpression caught as
  DynamoDB.ConditionalCheckFailedException, aws-sdk:dynamodb:getItem and a
  failing aws-sdk:dynamodb:putItem caught as
  DynamoDb.ConditionalCheckFailedException; the items checked in moto with
  boto3;
- the credentials are the functions' (--env-vars Parameters): a wrong
  secret key is refused by moto and writes nothing;
- TimeoutSeconds against an endpoint that never answers: States.Timeout;
- no endpoint: States.Runtime naming --endpoint dynamodb=URL; an endpoint
  that refuses connections: States.TaskFailed, "Unable to execute HTTP
  request: Connection refused"; an aws-sdk service of another protocol
  (sns): States.Runtime.
"""
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "saga"))
from dynamodb_env import MotoStore  # noqa: E402
from sfnd_harness import Sfnd, free_port, main  # noqa: E402

ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/test"
TABLE = "FwdItems"

TEMPLATE = """AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Resources:
  Topic:
    Type: AWS::SNS::Topic
"""


def key(v):
    return {"pk": {"S.$": v}}


DEFINITION = {
    "StartAt": "Put",
    "States": {
        "Put": {"Type": "Task", "Resource": "arn:aws:states:::dynamodb:putItem",
                "Parameters": {"TableName": TABLE, "Item": {"pk": {"S.$": "$.id"}, "n": {"N": "1"}}},
                "ResultPath": "$.put", "Next": "Get"},
        "Get": {"Type": "Task", "Resource": "arn:aws:states:::dynamodb:getItem",
                "Parameters": {"TableName": TABLE, "Key": key("$.id"), "ConsistentRead": True},
                "ResultPath": "$.get", "Next": "Update"},
        "Update": {"Type": "Task", "Resource": "arn:aws:states:::dynamodb:updateItem",
                   "Parameters": {"TableName": TABLE, "Key": key("$.id"),
                                  "UpdateExpression": "SET n = n + :one",
                                  "ExpressionAttributeValues": {":one": {"N": "1"}},
                                  "ReturnValues": "ALL_NEW"},
                   "ResultPath": "$.upd", "Next": "UpdateIfZero"},
        "UpdateIfZero": {"Type": "Task", "Resource": "arn:aws:states:::dynamodb:updateItem",
                         "Parameters": {"TableName": TABLE, "Key": key("$.id"),
                                        "UpdateExpression": "SET n = :zero",
                                        "ConditionExpression": "n = :zero",
                                        "ExpressionAttributeValues": {":zero": {"N": "0"}}},
                         "Catch": [{"ErrorEquals": ["DynamoDB.ConditionalCheckFailedException"],
                                    "ResultPath": "$.err", "Next": "SdkGet"}],
                         "Next": "NotHere"},
        "NotHere": {"Type": "Fail", "Error": "ConditionPassed"},
        "SdkGet": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:dynamodb:getItem",
                   "Parameters": {"TableName": TABLE, "Key": key("$.id"), "ConsistentRead": True},
                   "ResultPath": "$.sdk", "Next": "SdkPutNew"},
        "SdkPutNew": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:dynamodb:putItem",
                      "Parameters": {"TableName": TABLE, "Item": key("$.id"),
                                     "ConditionExpression": "attribute_not_exists(pk)"},
                      "Catch": [{"ErrorEquals": ["DynamoDb.ConditionalCheckFailedException"],
                                 "ResultPath": "$.sdkerr", "Next": "Delete"}],
                      "Next": "NotHere"},
        "Delete": {"Type": "Task", "Resource": "arn:aws:states:::dynamodb:deleteItem",
                   "Parameters": {"TableName": TABLE, "Key": {"pk": {"S": "gone"}}},
                   "ResultPath": "$.del", "End": True},
    },
}

PUT_ONLY = {"StartAt": "Put", "States": {"Put": dict(DEFINITION["States"]["Put"], End=True)}}
for k in ("Next", "ResultPath"):
    PUT_ONLY["States"]["Put"].pop(k, None)
SNS_SDK = {"StartAt": "P", "States": {"P": {
    "Type": "Task", "Resource": "arn:aws:states:::aws-sdk:sns:publish",
    "Parameters": {"TopicArn": "arn:aws:sns:us-east-1:123456789012:x", "Message": "m"}, "End": True}}}


class Env:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="sfnd-fwd-")
        self.template = os.path.join(self.dir, "template.yaml")
        with open(self.template, "w") as f:
            f.write(TEMPLATE)
        self.moto = MotoStore()
        import boto3
        m = self.moto
        m.ddb.create_table(TableName=TABLE, BillingMode="PAY_PER_REQUEST",
                           AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                           KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
        iam = boto3.client("iam", **m.admin)
        trust = json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/verifier"},
             "Action": "sts:AssumeRole"}]})
        role = iam.create_role(RoleName="sfn-fwd", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
        iam.put_role_policy(RoleName="sfn-fwd", PolicyName="items", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": [
                "dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"],
                "Resource": "*"}]}))
        m.role_arns["fwd"] = role
        self.creds = m.assume("fwd")

    def env_file(self, name, secret=None):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            json.dump({"Parameters": {"AWS_ACCESS_KEY_ID": self.creds["AccessKeyId"],
                                      "AWS_SECRET_ACCESS_KEY": secret or self.creds["SecretAccessKey"],
                                      "AWS_SESSION_TOKEN": self.creds["SessionToken"]}}, f)
        return path

    def sfnd(self, extra=()):
        return Sfnd(template=self.template, extra=list(extra))

    def close(self):
        self.moto.close()


ENV = None


def run(d, definition, name, inp):
    sfn = d.boto()
    arn = sfn.create_state_machine(name=name, definition=json.dumps(definition),
                                   roleArn=ROLE)["stateMachineArn"]
    ex = sfn.start_execution(stateMachineArn=arn, input=json.dumps(inp))["executionArn"]
    return d.wait_done(ex, timeout=60)


def item(pk):
    return ENV.moto.ddb.get_item(TableName=TABLE, Key={"pk": {"S": pk}}, ConsistentRead=True).get("Item")


def test_forwarded_tasks_signed():
    ENV.moto.ddb.put_item(TableName=TABLE, Item={"pk": {"S": "gone"}})
    with ENV.sfnd(["--endpoint", f"dynamodb={ENV.moto.url}",
                   "--env-vars", ENV.env_file("env.json")]) as d:
        t0 = time.time()
        r = run(d, DEFINITION, "fwd", {"id": "a1"})
        took = time.time() - t0
        assert r["status"] == "SUCCEEDED", (r, d.output()[-3000:])
        out = json.loads(r["output"])
        # optimized: the answer and the SDK's metadata
        assert out["put"]["SdkHttpMetadata"]["HttpStatusCode"] == 200, out["put"]
        assert "SdkResponseMetadata" in out["put"], out["put"]
        assert out["get"]["Item"] == {"pk": {"S": "a1"}, "n": {"N": "1"}}, out["get"]
        assert out["upd"]["Attributes"]["n"] == {"N": "2"}, out["upd"]
        assert out["err"]["Error"] == "DynamoDB.ConditionalCheckFailedException", out["err"]
        assert "(Service: AmazonDynamoDBv2; Status Code: 400; Error Code: " \
               "ConditionalCheckFailedException; Request ID: " in out["err"]["Cause"], out["err"]
        # aws-sdk: the answer as the service gave it, PascalCase service in errors
        assert out["sdk"] == {"Item": {"pk": {"S": "a1"}, "n": {"N": "2"}}}, out["sdk"]
        assert out["sdkerr"]["Error"] == "DynamoDb.ConditionalCheckFailedException", out["sdkerr"]
        assert "(Service: DynamoDb, Status Code: 400, Request ID: " in out["sdkerr"]["Cause"], out["sdkerr"]
        hist = d.boto().get_execution_history(executionArn=r["executionArn"], maxResults=1000)["events"]
        kinds = [e["type"] for e in hist]
        assert kinds.count("TaskSucceeded") == 5 and kinds.count("TaskFailed") == 2, kinds
        print(f"  8 states, 7 forwarded requests: {took:.2f} s")
    # what moto holds, read with the verifier's own signed requests
    assert item("a1") == {"pk": {"S": "a1"}, "n": {"N": "2"}}, item("a1")
    assert item("gone") is None


def test_wrong_secret_refused():
    with ENV.sfnd(["--endpoint", f"dynamodb={ENV.moto.url}",
                   "--env-vars", ENV.env_file("bad.json", secret="not-the-secret-key")]) as d:
        r = run(d, PUT_ONLY, "badkey", {"id": "b1"})
        assert r["status"] == "FAILED", r
        assert r["error"].startswith("DynamoDB."), r
        assert "signature" in (r["error"] + r.get("cause", "")).lower(), r
        assert "Status Code: 403" in r["cause"] or "Status Code: 400" in r["cause"], r
        print(f"  refused: {r['error']}: {r['cause'][:160]}")
    assert item("b1") is None


def test_no_endpoint_unreachable_and_other_protocols():
    with ENV.sfnd() as d:
        r = run(d, PUT_ONLY, "noendpoint", {"id": "c1"})
        assert r["status"] == "FAILED" and r["error"] == "States.Runtime", r
        assert "--endpoint dynamodb=URL" in r["cause"], r
        r = run(d, SNS_SDK, "snssdk", {})
        assert r["status"] == "FAILED" and r["error"] == "States.Runtime", r
        assert "JSON protocol" in r["cause"] and "'sns'" in r["cause"], r
    # the environment's form, to a port nobody listens on
    dead = free_port()
    os.environ["SFN_ENDPOINT_DYNAMODB"] = f"http://127.0.0.1:{dead}"
    try:
        d = ENV.sfnd()
        d.start()
    finally:
        del os.environ["SFN_ENDPOINT_DYNAMODB"]
    try:
        r = run(d, PUT_ONLY, "refused", {"id": "c2"})
        assert r["status"] == "FAILED" and r["error"] == "States.TaskFailed", r
        assert r["cause"].startswith("Unable to execute HTTP request: Connection refused"), r
        assert f"127.0.0.1:{dead}" in r["cause"], r
    finally:
        assert d.stop() == 0
        d.cleanup()


def test_timeout_seconds():
    """An endpoint that takes the connection and never answers: the state's
    TimeoutSeconds ends the task (States.Timeout), and a Catch sees it."""
    import socket
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(8)  # connections complete in the backlog; nothing is ever read
    port = ls.getsockname()[1]
    definition = {"StartAt": "Put", "States": {
        "Put": dict(PUT_ONLY["States"]["Put"], TimeoutSeconds=1,
                    Catch=[{"ErrorEquals": ["States.Timeout"], "ResultPath": "$.err", "Next": "Late"}]),
        "Late": {"Type": "Pass", "End": True}}}
    try:
        with ENV.sfnd(["--endpoint", f"dynamodb=http://127.0.0.1:{port}"]) as d:
            t0 = time.time()
            r = run(d, definition, "slow", {"id": "t1"})
            took = time.time() - t0
            assert r["status"] == "SUCCEEDED", r
            assert json.loads(r["output"])["err"]["Error"] == "States.Timeout", r
            assert 0.9 < took < 5, took
    finally:
        ls.close()


def test_bad_endpoint_option():
    import subprocess
    from sfnd_harness import SFND
    for bad in ("dynamodb", "dynamodb=https://x:1", "dynamodb=http://:80", "dyn amo=http://127.0.0.1:1"):
        p = subprocess.run([SFND, "--template", ENV.template, "--data", ENV.dir + "/bad",
                            "--port", str(free_port()), "--endpoint", bad],
                           capture_output=True, text=True, timeout=30)
        assert p.returncode != 0, (bad, p.stderr)
        assert "--endpoint" in p.stderr, (bad, p.stderr)


if __name__ == "__main__":
    ENV = Env()
    try:
        main([test_forwarded_tasks_signed, test_wrong_secret_refused,
              test_no_endpoint_unreachable_and_other_protocols, test_timeout_seconds,
              test_bad_endpoint_option])
    finally:
        ENV.close()
