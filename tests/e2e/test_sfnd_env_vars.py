"""sfnd --env-vars (SAM CLI's env.json) end to end, with a small template of
this test's own in a temporary directory whose two functions are the
fixture bootstrap (tests/lambda_fixtures/fixture.c, op "env": it answers
with its whole environment). Through `aws lambda invoke` and boto3: the
defaults without the option; with it, Parameters for every function, a
logical ID's entry winning over Parameters, sfnd's own defaults
(AWS_ACCESS_KEY_ID, ..., SFN_LOCAL_STORE_DIR) replaced, an empty value set
as empty, undeclared variables set, and nothing of sfnd's own environment
in the function's. Then the start-up refusals: an unknown logical ID, a
Runtime API variable, a null value, a bad name, a file that is not JSON."""
import json
import os
import shutil
import subprocess
import tempfile

from sfnd_harness import SFND, Sfnd, client_env, main

FIXTURE = os.environ.get("FIXTURE_BOOTSTRAP", "")
ONLY_IN_SFND = "SFND_E2E_ONLY_IN_SFND"

TEMPLATE = """
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Handler: env
    Environment:
      Variables:
        STAGE: template
Resources:
  EnvFunction:
    Type: AWS::Serverless::Function
    Properties:
      Environment:
        Variables:
          DECLARED: from-template
  OtherFunction:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: other-fn
  Bookings:
    Type: AWS::DynamoDB::Table
"""

ENV_VARS = {
    "Parameters": {
        "SFN_LOCAL_STORE_DIR": "",
        "AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:5000",
        "AWS_ACCESS_KEY_ID": "ASIAE2ETESTKEY000000",
        "AWS_SECRET_ACCESS_KEY": "e2e-secret",
        "AWS_SESSION_TOKEN": "e2e-session-token",
        "STAGE": "params",
        "RETRIES": 3,
        "RATIO": 1.5,
        "DEBUG": True,
    },
    "EnvFunction": {"STAGE": "env-fn", "DECLARED": "", "ONLY_ENV_FN": "yes"},
}


class Env:
    """The temporary directory: template.yaml, build/<id>/bootstrap, env.json."""

    def __init__(self):
        assert os.access(FIXTURE, os.X_OK), f"FIXTURE_BOOTSTRAP={FIXTURE!r} is not executable"
        self.dir = tempfile.mkdtemp(prefix="sfnd-envvars-")
        self.template = os.path.join(self.dir, "template.yaml")
        with open(self.template, "w") as f:
            f.write(TEMPLATE)
        for fn in ("EnvFunction", "OtherFunction"):
            os.makedirs(os.path.join(self.dir, "build", fn))
            os.symlink(FIXTURE, os.path.join(self.dir, "build", fn, "bootstrap"))

    def write(self, name, content):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(content if isinstance(content, str) else json.dumps(content))
        return path

    def sfnd(self, *extra):
        return Sfnd(template=self.template, extra=extra)

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def env_of(entries):
    """The fixture's ["K=V", ...] as a dict; every name exactly once."""
    out = {}
    for e in entries:
        k, _, v = e.partition("=")
        assert k not in out, f"{k} twice in {entries}"
        out[k] = v
    return out


def invoke_cli(s, name, tmp):
    out = os.path.join(tmp, "out.json")
    _, meta, _ = s.cli("lambda", "invoke", "--function-name", name, "--payload", '{"op":"env"}', out)
    assert meta["StatusCode"] == 200 and "FunctionError" not in meta, meta
    with open(out) as f:
        return env_of(json.load(f)["env"])


def invoke_boto(s, name):
    r = s.boto("lambda").invoke(FunctionName=name, Payload=b'{"op":"env"}')
    assert r["StatusCode"] == 200 and "FunctionError" not in r, r
    return env_of(json.loads(r["Payload"].read())["env"])


def test_defaults_without_the_option():
    env = Env()
    os.environ[ONLY_IN_SFND] = "leaked"
    try:
        with env.sfnd() as s:
            e = invoke_cli(s, "EnvFunction", env.dir)
            assert e["SFN_LOCAL_STORE_DIR"] == os.path.join(os.path.realpath(s.data), "tables"), e
            assert e["AWS_ACCESS_KEY_ID"].startswith("AKIALOCALSFND"), e
            assert e["STAGE"] == "template" and e["DECLARED"] == "from-template", e
            assert ONLY_IN_SFND not in e and "AWS_ENDPOINT_URL_DYNAMODB" not in e, e
    finally:
        os.environ.pop(ONLY_IN_SFND, None)
        env.cleanup()


def test_env_vars_win():
    env = Env()
    os.environ[ONLY_IN_SFND] = "leaked"  # sfnd's environment (client_env copies ours)
    try:
        path = env.write("env.json", ENV_VARS)
        with env.sfnd("--env-vars", path) as s:
            assert client_env()[ONLY_IN_SFND] == "leaked"
            e = invoke_cli(s, "EnvFunction", env.dir)
            # sfnd's defaults replaced, the empty value set as empty
            assert e["SFN_LOCAL_STORE_DIR"] == "", e
            assert e["AWS_ACCESS_KEY_ID"] == "ASIAE2ETESTKEY000000", e
            assert e["AWS_SECRET_ACCESS_KEY"] == "e2e-secret", e
            assert e["AWS_SESSION_TOKEN"] == "e2e-session-token", e
            assert e["AWS_ENDPOINT_URL_DYNAMODB"] == "http://127.0.0.1:5000", e
            # the logical ID's entry wins over Parameters, over the template
            assert e["STAGE"] == "env-fn" and e["DECLARED"] == "" and e["ONLY_ENV_FN"] == "yes", e
            assert e["RETRIES"] == "3" and e["RATIO"] == "1.5" and e["DEBUG"] == "true", e
            # what sfnd owns is still sfnd's; nothing of its own environment
            assert e["_HANDLER"] == "env" and e["AWS_LAMBDA_FUNCTION_NAME"] == "EnvFunction", e
            assert e["AWS_LAMBDA_RUNTIME_API"].startswith("127.0.0.1:"), e
            assert e["AWS_REGION"] == "us-east-1", e
            assert ONLY_IN_SFND not in e, e

            o = invoke_boto(s, "other-fn")
            assert o["STAGE"] == "params" and o["SFN_LOCAL_STORE_DIR"] == "", o
            assert o["AWS_ACCESS_KEY_ID"] == "ASIAE2ETESTKEY000000", o
            assert "DECLARED" not in o and "ONLY_ENV_FN" not in o and ONLY_IN_SFND not in o, o
    finally:
        os.environ.pop(ONLY_IN_SFND, None)
        env.cleanup()


def refused(env, content, *needles):
    path = env.write("bad.json", content)
    data = tempfile.mkdtemp(prefix="sfnd-e2e-")
    try:
        p = subprocess.run([SFND, "--template", env.template, "--data", data, "--port", "0",
                            "--quiet", "--env-vars", path],
                           capture_output=True, text=True, env=client_env(), timeout=30)
    finally:
        shutil.rmtree(data, ignore_errors=True)
    assert p.returncode == 1, (content, p.returncode, p.stdout, p.stderr)
    assert "Sanitizer" not in p.stderr, p.stderr  # the ASan build exits 1 too
    for n in needles:
        assert n in p.stderr, (content, n, p.stderr)
    assert "listening" not in p.stdout, p.stdout


def test_start_up_refusals():
    env = Env()
    try:
        refused(env, {"EnvFuntion": {"X": "1"}}, "--env-vars: 'EnvFuntion'",
                "its functions: EnvFunction, OtherFunction")
        refused(env, {"Parameters": {"AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001"}},
                "Parameters.AWS_LAMBDA_RUNTIME_API", "cannot be overridden")
        refused(env, {"OtherFunction": {"_HANDLER": "echo"}}, "OtherFunction._HANDLER")
        refused(env, {"Parameters": {"X": None}}, "Parameters.X", "not null")
        refused(env, {"EnvFunction": {"X": {"a": 1}}}, "EnvFunction.X", "not an object")
        refused(env, {"Parameters": {"BAD-NAME": "v"}}, "Parameters.BAD-NAME", "[A-Za-z_]")
        refused(env, '{"Parameters": {"X": "1",}}', "--env-vars", "bad.json")
        refused(env, '{"Parameters": {"X": "1", "X": "2"}}', "duplicate")
        p = subprocess.run([SFND, "--template", env.template, "--env-vars",
                            os.path.join(env.dir, "missing.json"), "--data",
                            os.path.join(env.dir, "data")],
                           capture_output=True, text=True, timeout=30)
        assert p.returncode == 1 and "missing.json" in p.stderr, p.stderr
        assert "Sanitizer" not in p.stderr, p.stderr
    finally:
        env.cleanup()


if __name__ == "__main__":
    main([test_defaults_without_the_option, test_env_vars_win, test_start_up_refusals])
