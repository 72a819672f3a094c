"""The local Lambda under faults, end to end through sfnd's Invoke API (issue
12), with a template of this test's own in a temporary directory:

* a warm lrt runtime (tests/lambda_fixtures/conformance_fn.c) answers a
  1.5 MiB event and then a small one on the same process, for a handler
  that succeeds and one that fails (it crashed with a segmentation fault
  on the second: Runtime.ExitError);
* a runtime that never calls GET /next is killed after the init limit
  (SFND_LAMBDA_INIT_TIMEOUT_MS shortens AWS's 10 s); as on AWS the init is
  tried once more within the function's Timeout, and when that times out
  too the invocation fails with Sandbox.Timedout;
* what a bootstrap forks dies with it when sfnd stops (process groups);
* a function that writes 25 MB of log leaves <data>/logs/<name>.log under
  the 10 MiB cap, plus one rotated file.
The lam fixture (tests/lambda_fixtures/fixture.c) is the other functions'
bootstrap."""
import json
import os
import shutil
import tempfile
import time

from sfnd_harness import Sfnd, main

FIXTURE = os.environ.get("FIXTURE_BOOTSTRAP", "")
LRT_FN = os.environ.get("LRT_BOOTSTRAP", "")

TEMPLATE = """
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Timeout: 10
Resources:
  SmallAnswer:
    Type: AWS::Serverless::Function
    Properties:
      Handler: echo_function
  Raises:
    Type: AWS::Serverless::Function
    Properties:
      Handler: raise_exception
  Echo:
    Type: AWS::Serverless::Function
    Properties:
      Handler: echo
  NeverReady:
    Type: AWS::Serverless::Function
    Properties:
      Handler: initsleep
      Timeout: 2
"""

BOOTSTRAPS = {"SmallAnswer": LRT_FN, "Raises": LRT_FN, "Echo": FIXTURE, "NeverReady": FIXTURE}


class Env:
    def __init__(self):
        for b in (FIXTURE, LRT_FN):
            assert os.access(b, os.X_OK), f"{b!r} is not executable"
        self.dir = tempfile.mkdtemp(prefix="sfnd-lamfaults-")
        self.template = os.path.join(self.dir, "template.yaml")
        with open(self.template, "w") as f:
            f.write(TEMPLATE)
        for fn, b in BOOTSTRAPS.items():
            os.makedirs(os.path.join(self.dir, "build", fn))
            os.symlink(b, os.path.join(self.dir, "build", fn, "bootstrap"))

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def invoke(s, name, payload):
    r = s.boto("lambda").invoke(FunctionName=name, Payload=payload)
    return r["StatusCode"], r.get("FunctionError"), json.loads(r["Payload"].read())


def test_warm_runtime_after_a_1_5_mib_event():
    env = Env()
    try:
        with Sfnd(template=env.template) as s:
            big = json.dumps({"blob": "x" * (1536 * 1024)}).encode()
            for _ in range(2):  # twice: the process stays warm through both rounds
                st, fe, body = invoke(s, "SmallAnswer", big)
                assert st == 200 and fe is None and body == {"Return": "HelloWorld"}, (st, fe, body)
                st, fe, body = invoke(s, "SmallAnswer", b'{"small":1}')
                assert st == 200 and fe is None and body == {"Return": "HelloWorld"}, (st, fe, body)
            # an error post after the big event pipelines GET /next too
            st, fe, body = invoke(s, "Raises", big)
            assert fe == "Unhandled" and body["errorType"] == "Exception", body
            st, fe, body = invoke(s, "Raises", b'{"small":1}')
            assert fe == "Unhandled" and body["errorType"] == "Exception", body
    finally:
        env.cleanup()


def test_invoke_payload_limits():
    """AWS takes synchronous Invoke payloads up to 6 MB (6,291,456 bytes):
    5 MB goes through to the function and back; past 6 MB the answer is
    AWS's 413 with a JSON body, and sfnd goes on serving."""
    env = Env()
    try:
        with Sfnd(template=env.template) as s:
            five = json.dumps({"blob": "y" * (5 * 1000 * 1000)}).encode()
            st, fe, body = invoke(s, "Echo", five)
            assert st == 200 and fe is None and len(body["blob"]) == 5 * 1000 * 1000, (st, fe)
            import urllib.request, urllib.error
            url = f"http://127.0.0.1:{s.port}/2015-03-31/functions/Echo/invocations"
            for size in (6291456 + 10, 6291456 + 2 * 1024 * 1024):
                req = urllib.request.Request(url, data=b"x" * size, method="POST",
                                             headers={"Content-Type": "application/json",
                                                      "Authorization": "AWS4-HMAC-SHA256 Credential=t/20260101/us-east-1/lambda/aws4_request, SignedHeaders=host, Signature=0"})
                try:
                    urllib.request.urlopen(req, timeout=30)
                    raise AssertionError(f"{size} bytes accepted")
                except urllib.error.HTTPError as e:
                    assert e.code == 413, e.code
                    err = json.loads(e.read())
                    # lam's answer (AWS's body) or, past the server's cap, http's
                    assert "6291456" in err.get("message", "") or "TooLarge" in err.get("__type", ""), err
            st, fe, body = invoke(s, "Echo", b'{"after": 1}')
            assert st == 200 and body == {"after": 1}, (st, body)
    finally:
        env.cleanup()


def test_init_timeout():
    env = Env()
    os.environ["SFND_LAMBDA_INIT_TIMEOUT_MS"] = "1000"
    try:
        with Sfnd(template=env.template) as s:
            t0 = time.time()
            st, fe, body = invoke(s, "NeverReady", b"{}")
            took = time.time() - t0
            assert st == 200 and fe == "Unhandled", (st, fe, body)
            assert body["errorType"] == "Sandbox.Timedout", body
            # 1 s of init, then a second init within the Timeout (2 s)
            assert "Task timed out after 2.00 seconds" in body["errorMessage"], body
            assert 3.0 <= took < 9, took
            # the function still works for others
            st, fe, body = invoke(s, "Echo", b'{"op":"echo","a":1}')
            assert fe is None and body == {"op": "echo", "a": 1}, body
    finally:
        os.environ.pop("SFND_LAMBDA_INIT_TIMEOUT_MS", None)
        env.cleanup()


def gone(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True


def test_children_die_with_sfnd():
    env = Env()
    pidfile = os.path.join(env.dir, "child.pid")
    try:
        with Sfnd(template=env.template) as s:
            st, fe, body = invoke(s, "Echo", json.dumps({"op": "forkchild", "ms": 0,
                                                         "pidfile": pidfile}).encode())
            assert fe is None, body
            with open(pidfile) as f:
                child = int(f.read())
            assert not gone(child)
        deadline = time.time() + 5
        while not gone(child) and time.time() < deadline:
            time.sleep(0.05)
        if not gone(child):
            os.kill(child, 9)
            raise AssertionError(f"the bootstrap's child {child} outlived sfnd")
    finally:
        env.cleanup()


def test_function_log_is_capped():
    env = Env()
    data = os.path.join(env.dir, "data")
    os.makedirs(data)
    try:
        s = Sfnd(template=env.template, data=data)
        with s:
            st, fe, body = invoke(s, "Echo", b'{"op":"spew","bytes":25000000}')
            assert fe is None, body
        cap = 10 * 1024 * 1024
        logs = os.path.join(data, "logs")
        cur = os.path.getsize(os.path.join(logs, "Echo.log"))
        old = os.path.getsize(os.path.join(logs, "Echo.log.1"))
        assert 0 < cur <= cap + 4096 and cap - 4096 <= old <= cap + 4096, (cur, old)
        assert sorted(n for n in os.listdir(logs) if n.startswith("Echo")) == ["Echo.log", "Echo.log.1"]
    finally:
        env.cleanup()


if __name__ == "__main__":
    main([test_warm_runtime_after_a_1_5_mib_event, test_invoke_payload_limits, test_init_timeout, test_children_die_with_sfnd,
          test_function_log_is_capped])
