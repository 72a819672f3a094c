"""TestState end to end: sfnd with a small template of this test's own
whose functions are the conformance bootstrap (tests/lambda_fixtures/
conformance_fn.c), driven through boto3 and the AWS CLI.

- boto3 (inject_host_prefix=False): every inspection level of a Pass; a
  Task with a mocked result (DEBUG data flow), a mocked error under Retry
  (RETRIABLE, with retrierRetryCount) and Catch (CAUGHT_ERROR); a Map and
  a Parallel under a mock; a machine's state by stateName; the refusals
  (ValidationException, InvalidDefinition); and Tasks without a mock that
  run the local functions (plain ARN and lambda:invoke, a function error
  caught, an unknown function);
- the AWS CLI with AWS_DISABLE_HOST_PREFIX_INJECTION=true: the same with
  and without a mock, and TRACE;
- the host prefix: a request whose Host is sync-127.0.0.1 or
  test-localhost is served, a prefixed foreign name still refused.
"""
import http.client
import json
import os
import shutil
import subprocess
import tempfile

from sfnd_harness import Sfnd, client_env, main

LRT_FN = os.environ.get("LRT_BOOTSTRAP", "")

TEMPLATE = """
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Timeout: 10
Resources:
  EchoFunction:
    Type: AWS::Serverless::Function
    Properties:
      Handler: id_function
  HelloFunction:
    Type: AWS::Serverless::Function
    Properties:
      Handler: return_bytes_str
  BoomFunction:
    Type: AWS::Serverless::Function
    Properties:
      Handler: raise_custom_exception
"""

FN_ARN = "arn:aws:lambda:us-east-1:123456789012:function:"
ROLE = "arn:aws:iam::123456789012:role/test-state"


class Env:
    def __init__(self):
        assert os.access(LRT_FN, os.X_OK), f"LRT_BOOTSTRAP={LRT_FN!r} is not executable"
        self.dir = tempfile.mkdtemp(prefix="sfnd-teststate-")
        self.template = os.path.join(self.dir, "template.yaml")
        with open(self.template, "w") as f:
            f.write(TEMPLATE)
        for fn in ("EchoFunction", "HelloFunction", "BoomFunction"):
            os.makedirs(os.path.join(self.dir, "build", fn))
            os.symlink(LRT_FN, os.path.join(self.dir, "build", fn, "bootstrap"))

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def with_sfnd(fn):
    env = Env()
    try:
        with Sfnd(template=env.template) as s:
            fn(s)
    finally:
        env.cleanup()


def J(v):
    return json.dumps(v)


def expect_error(sfn, code, **kw):
    try:
        sfn.test_state(**kw)
    except sfn.exceptions.ClientError as e:
        assert e.response["Error"]["Code"] == code, e.response
        return e.response["Error"]["Message"]
    raise AssertionError(f"expected {code}")


PASS = {"Type": "Pass", "InputPath": "$.a", "Parameters": {"x.$": "$.b"}, "ResultPath": "$.r", "Next": "After"}
LAMBDA = {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
          "Parameters": {"FunctionName": "EchoFunction", "Payload.$": "$"},
          "ResultSelector": {"echoed.$": "$.Payload"}, "End": True}
RETRY = {"Type": "Task", "QueryLanguage": "JSONata", "Resource": "arn:aws:states:::lambda:invoke",
         "Arguments": {"FunctionName": "EchoFunction"},
         "Retry": [{"ErrorEquals": ["Flaky"], "IntervalSeconds": 1, "MaxAttempts": 2, "BackoffRate": 2}],
         "Catch": [{"ErrorEquals": ["States.ALL"], "Output": {"err": "{% $states.errorOutput.Error %}"},
                    "Next": "Handle"}], "End": True}


def test_boto3_levels_and_mocks():
    def body(s):
        sfn = s.boto()
        inp = J({"a": {"b": 1}})
        r = sfn.test_state(definition=J(PASS), input=inp)
        assert r["status"] == "SUCCEEDED" and r["nextState"] == "After", r
        assert json.loads(r["output"]) == {"a": {"b": 1}, "r": {"x": 1}}
        assert "inspectionData" not in r
        for level in ("DEBUG", "TRACE"):
            r = sfn.test_state(definition=J(PASS), input=inp, inspectionLevel=level)
            d = r["inspectionData"]
            assert json.loads(d["afterInputPath"]) == {"b": 1}, d
            assert json.loads(d["afterParameters"]) == {"x": 1}, d
            assert json.loads(d["afterResultPath"]) == {"a": {"b": 1}, "r": {"x": 1}}, d

        mock = {"result": J({"Payload": {"ok": 1}, "StatusCode": 200})}
        r = sfn.test_state(definition=J(LAMBDA), input=J({"k": 1}), inspectionLevel="DEBUG", mock=mock)
        assert json.loads(r["output"]) == {"echoed": {"ok": 1}}, r
        assert json.loads(r["inspectionData"]["afterParameters"]) == {"FunctionName": "EchoFunction",
                                                                      "Payload": {"k": 1}}

        err = {"errorOutput": {"error": "Flaky", "cause": "try again"}}
        r = sfn.test_state(definition=J(RETRY), input="{}", inspectionLevel="DEBUG", mock=err,
                           stateConfiguration={"retrierRetryCount": 1})
        assert r["status"] == "RETRIABLE", r
        assert r["inspectionData"]["errorDetails"] == {"retryIndex": 0, "retryBackoffIntervalSeconds": 2}, r
        r = sfn.test_state(definition=J(RETRY), input="{}", inspectionLevel="DEBUG", mock=err,
                           stateConfiguration={"retrierRetryCount": 2})
        assert r["status"] == "CAUGHT_ERROR" and r["nextState"] == "Handle", r
        assert json.loads(r["output"]) == {"err": "Flaky"}
        assert r["error"] == "Flaky" and r["cause"] == "try again"

        msg = expect_error(sfn, "ValidationException", definition=J(LAMBDA), input="{}",
                           mock={"result": J({"StatusCode": "200"})})
        assert msg == "Mock result schema validation error: Field 'StatusCode' must be a number", msg
        r = sfn.test_state(definition=J(LAMBDA), input="{}",
                           mock={"result": J({"StatusCode": "200", "Payload": 1}), "fieldValidationMode": "NONE"})
        assert r["status"] == "SUCCEEDED", r
        r = sfn.test_state(definition=J(LAMBDA), input="{}",
                           mock={"result": J({"StatusCode": 200}), "fieldValidationMode": "PRESENT"})
        assert r["status"] == "FAILED" and r["error"] == "States.Runtime", r  # ResultSelector: no Payload
    with_sfnd(body)


MAP = {"Type": "Map", "ItemsPath": "$.items", "ToleratedFailureCount": 1,
       "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                         "StartAt": "Work", "States": {"Work": {"Type": "Task", "Resource": FN_ARN + "EchoFunction",
                                                               "End": True}}},
       "Catch": [{"ErrorEquals": ["States.ExceedToleratedFailureThreshold"], "Next": "TooMany"}], "End": True}
PARALLEL = {"Type": "Parallel", "End": True, "Branches": [
    {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}},
    {"StartAt": "B", "States": {"B": {"Type": "Pass", "End": True}}}]}


def test_boto3_map_parallel_machine_and_refusals():
    def body(s):
        sfn = s.boto()
        inp = J({"items": [1, 2, 3]})
        r = sfn.test_state(definition=J(MAP), input=inp, inspectionLevel="DEBUG", mock={"result": "[4,5,6]"},
                           stateConfiguration={"mapIterationFailureCount": 1})
        assert r["status"] == "SUCCEEDED" and json.loads(r["output"]) == [4, 5, 6], r
        assert r["inspectionData"]["maxConcurrency"] == 0 and r["inspectionData"]["toleratedFailureCount"] == 1
        r = sfn.test_state(definition=J(MAP), input=inp, mock={"result": "[4,5,6]"},
                           stateConfiguration={"mapIterationFailureCount": 2})
        assert r["status"] == "CAUGHT_ERROR" and r["nextState"] == "TooMany", r
        r = sfn.test_state(definition=J(PARALLEL), input="{}", mock={"result": "[1,2]"})
        assert json.loads(r["output"]) == [1, 2]

        machine = {"StartAt": "M", "States": {"M": {k: v for k, v in MAP.items() if k != "Catch"}}}
        r = sfn.test_state(definition=J(machine), stateName="Work", input=J({"n": 1}), roleArn=ROLE)
        assert r["status"] == "SUCCEEDED" and json.loads(r["output"]) == {"n": 1}, r  # the real function

        expect_error(sfn, "InvalidDefinition", definition=J(PARALLEL), input="{}")
        expect_error(sfn, "InvalidDefinition", definition='{"Type": "Nope"}')
        expect_error(sfn, "ValidationException", definition=J(PASS), mock={"result": "{}"})
        expect_error(sfn, "ValidationException", definition=J(machine), stateName="Missing")
        expect_error(sfn, "ValidationException", definition=J(PASS), inspectionLevel="LOUD")
    with_sfnd(body)


def test_boto3_real_functions():
    def body(s):
        sfn = s.boto()
        plain = {"Type": "Task", "Resource": FN_ARN + "HelloFunction", "End": True}
        r = sfn.test_state(definition=J(plain), input=J({"x": 1}), roleArn=ROLE, inspectionLevel="DEBUG")
        assert r["status"] == "SUCCEEDED" and json.loads(r["output"]) == "HelloWorld!", r
        assert json.loads(r["inspectionData"]["result"]) == "HelloWorld!"

        r = sfn.test_state(definition=J(LAMBDA), input=J({"k": 2}), roleArn=ROLE)
        assert json.loads(r["output"]) == {"echoed": {"k": 2}}, r  # the Invoke wrapper, then ResultSelector

        boom = {"Type": "Task", "Resource": FN_ARN + "BoomFunction",
                "Catch": [{"ErrorEquals": ["CustomException"], "ResultPath": "$.e", "Next": "Caught"}],
                "End": True}
        r = sfn.test_state(definition=J(boom), input=J({"y": 1}), roleArn=ROLE)
        assert r["status"] == "CAUGHT_ERROR" and r["nextState"] == "Caught", r
        assert json.loads(r["output"])["e"]["Error"] == "CustomException"

        missing = {"Type": "Task", "Resource": FN_ARN + "NoSuchFunction", "End": True}
        r = sfn.test_state(definition=J(missing), input="{}", roleArn=ROLE)
        assert r["status"] == "FAILED" and r["error"] == "Lambda.ResourceNotFoundException", r
    with_sfnd(body)


def cli(s, *args):
    env = client_env()
    env["AWS_DISABLE_HOST_PREFIX_INJECTION"] = "true"
    p = subprocess.run(["aws", "--endpoint-url", s.url, "--output", "json", "stepfunctions", "test-state"]
                       + list(args), capture_output=True, text=True, env=env, timeout=60)
    return p.returncode, (json.loads(p.stdout) if p.stdout.strip() else None), p.stderr


def test_cli():
    def body(s):
        rc, out, err = cli(s, "--definition", J(PASS), "--input", J({"a": {"b": 2}}), "--inspection-level", "TRACE")
        assert rc == 0, err
        assert out["status"] == "SUCCEEDED" and json.loads(out["inspectionData"]["afterParameters"]) == {"x": 2}
        rc, out, err = cli(s, "--definition", J(LAMBDA), "--input", "{}", "--inspection-level", "DEBUG",
                           "--mock", J({"result": J({"Payload": 7})}))
        assert rc == 0, err
        assert json.loads(out["output"]) == {"echoed": 7}, out
        rc, out, err = cli(s, "--definition", J(LAMBDA), "--input", J({"via": "cli"}), "--role-arn", ROLE)
        assert rc == 0, err
        assert json.loads(out["output"]) == {"echoed": {"via": "cli"}}, out
        rc, out, err = cli(s, "--definition", J(RETRY), "--input", "{}", "--mock",
                           J({"errorOutput": {"error": "Flaky", "cause": "c"}}),
                           "--state-configuration", J({"retrierRetryCount": 0}))
        assert rc == 0 and out["status"] == "RETRIABLE", (out, err)
        rc, out, err = cli(s, "--definition", J(PASS), "--mock", J({"result": "{}"}))
        assert rc != 0 and "ValidationException" in err, err
    with_sfnd(body)


def raw_host(s, host):
    c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=30)
    c.request("POST", "/", body=J({"definition": J({"Type": "Pass", "End": True}), "input": "{}"}),
              headers={"Host": host, "Content-Type": "application/x-amz-json-1.0",
                       "X-Amz-Target": "AWSStepFunctions.TestState"})
    r = c.getresponse()
    data = json.loads(r.read())
    c.close()
    return r.status, data


def test_host_prefix():
    def body(s):
        for host in (f"sync-127.0.0.1:{s.port}", f"test-localhost:{s.port}", f"127.0.0.1:{s.port}"):
            st, d = raw_host(s, host)
            assert st == 200 and d["status"] == "SUCCEEDED", (host, st, d)
        st, d = raw_host(s, f"sync-evil.example:{s.port}")
        assert st == 403 and d["__type"] == "AccessDeniedException", (st, d)
    with_sfnd(body)


if __name__ == "__main__":
    main([test_boto3_levels_and_mocks, test_boto3_map_parallel_machine_and_refusals, test_boto3_real_functions,
          test_cli, test_host_prefix])
