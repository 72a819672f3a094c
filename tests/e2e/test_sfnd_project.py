"""Your own SAM project on sfnd, end to end (issue 16, the functions half).

tests/projects/hello/ is a small SAM project of its own: Node.js functions
(an async handler, a callback handler, a module that cannot be imported), a
Python function (and one whose handler is missing), a shell bootstrap
written like AWS's custom runtime tutorial, a function built by make, CodeUri
folders, Globals, a Condition, a Mapping and parameters. Each test copies it
to a temporary directory (nothing is written into the source tree), starts
sfnd on the copy, and drives it with boto3 and the AWS CLI:

 - where functions are found: CodeUri folders, `sfnd build` (make
   build-<Id> into .aws-sam/build/<Id>/), the newer of a build and its
   sources, what the start-up message says for a function it did not find
   and for a CodeUri outside the project;
 - the runtimes: the context objects, AWS's error shapes, init errors,
   callbackWaitsForEmptyEventLoop, a runtime version other than the
   machine's (refused, or run with --runtime-mismatch=run);
 - the Lambda API: ListFunctions, GetFunction, GetFunctionConfiguration,
   Invoke with LogType Tail and a client context, Event (with its retries),
   DryRun, the 256 KB asynchronous limit;
 - a parameter override (Stage=prod: a Condition, a Mapping, a resource
   that exists only in prod);
 - an activity (AWS::StepFunctions::Activity) served by a boto3 worker
   thread of the test's own, the second step of a state machine.

Without `node` on the PATH the Node.js parts skip with a message. When the
machine's node or python3 is not the template's version (nodejs20.x,
python3.11), sfnd is started with --runtime-mismatch=run.
"""
import base64
import json
import os
import shutil
import subprocess
import tempfile
import time

from botocore.exceptions import ClientError

from sfnd_harness import REGION, ACCOUNT, SFND, SRC, Sfnd, client_env, main

PROJECT = os.path.join(SRC, "tests", "projects", "hello")
NODE_FNS = ["HelloNodeFunction", "CallbackNodeFunction", "BrokenImportFunction"]
PY_NAME = "sfnd-hello-python"  # FunctionName: !Sub '${AWS::StackName}-hello-python'


def machine_version(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


NODE = shutil.which("node") is not None
NODE_MAJOR = machine_version(["node", "-p", "process.versions.node.split('.')[0]"]) if NODE else ""
PY_MINOR = machine_version(["python3", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"])
MISMATCH = ["--runtime-mismatch=run"] if (NODE and NODE_MAJOR != "20") or PY_MINOR != "3.11" else []
if not NODE:
    print("node is not installed: the Node.js functions are checked for their refusal only "
          "(install nodejs to run them)", flush=True)


def fn_arn(name):
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"


class Project:
    """A copy of tests/projects/hello in a temporary directory."""

    def __init__(self, src=PROJECT):
        self.root = tempfile.mkdtemp(prefix="sfnd-project-")
        self.dir = os.path.join(self.root, "hello")
        shutil.copytree(src, self.dir, symlinks=True)
        self.template = os.path.join(self.dir, "template.yaml")

    def path(self, *p):
        return os.path.join(self.dir, *p)

    def write(self, rel, text, mode=0o644):
        p = self.path(rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write(text)
        os.chmod(p, mode)
        return p

    def sfnd(self, *extra, time_scale=600):
        return Sfnd(template=self.template, time_scale=time_scale, extra=MISMATCH + list(extra))

    def add_resources(self, yaml):
        """More resources, under Resources (before Outputs)."""
        with open(self.template) as f:
            text = f.read()
        with open(self.template, "w") as f:
            f.write(text.replace("\nOutputs:", yaml.rstrip("\n") + "\n\nOutputs:", 1))

    def build(self, *args):
        return subprocess.run([SFND, "build", "--template", self.template] + list(args),
                              capture_output=True, text=True, timeout=120, env=client_env())

    def cleanup(self):
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup()


CLI_V1 = machine_version(["aws", "--version"]).startswith("aws-cli/1")


def cli_invoke(s, name, payload, *args):
    """aws lambda invoke: (printed JSON, the output file's text)."""
    out = tempfile.mktemp(prefix="sfnd-invoke-")
    extra = [] if CLI_V1 else ["--cli-binary-format", "raw-in-base64-out"]
    try:
        _, printed, _ = s.cli("lambda", "invoke", "--function-name", name, "--payload",
                              json.dumps(payload), *extra, *args, out)
        with open(out) as f:
            return printed, f.read()
    finally:
        if os.path.exists(out):
            os.unlink(out)


def boto_invoke(lam, name, payload, **kw):
    r = lam.invoke(FunctionName=name, Payload=json.dumps(payload).encode(), **kw)
    body = r["Payload"].read().decode()
    return r, body


def tail_of(r):
    return base64.b64decode(r["LogResult"]).decode(errors="replace")


def wait_for(pred, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    return pred()


def read_log(s, name):
    try:
        with open(os.path.join(s.data, "logs", name + ".log")) as f:
            return f.read()
    except OSError:
        return ""


# ---- 1. finding functions ------------------------------------------------------------
def test_startup_lists_where_it_looked():
    """MadeFunction has no build: the message names every place looked at
    and how to build it; the others are found in their CodeUri folders."""
    with Project() as p, p.sfnd() as s:
        out = s.output()
        assert "function MadeFunction: not found; looked in:" in out, out
        for where in (f"{p.dir}/.aws-sam/build/MadeFunction/ (sam build output: no such directory)",
                      f"{p.dir}/build/MadeFunction/ (sam build output: no such directory)",
                      f"{p.dir}/made/ (CodeUri: no bootstrap)",
                      "BuildMethod makefile: build it with `",
                      f"sfnd build --template {p.template}`"):
            assert where in out, (where, out)
        assert f"HelloPythonFunction          {fn_arn(PY_NAME)} ({p.dir}/hello-python)" in out, out
        assert f"ShellFunction                {fn_arn('ShellFunction')} ({p.dir}/shell)" in out, out
        assert "ProdOnlyFunction" not in out  # Condition IsProd is false
        r = s.boto("lambda")
        try:
            r.invoke(FunctionName="MadeFunction", Payload=b"{}")
            raise AssertionError("MadeFunction should not exist before it is built")
        except ClientError as e:
            assert e.response["Error"]["Code"] == "ResourceNotFoundException", e.response


def test_sfnd_build_then_run():
    """sfnd build runs make build-MadeFunction with ARTIFACTS_DIR, as sam
    build does; sfnd then runs the build (a bash bootstrap)."""
    with Project() as p:
        r = p.build("MadeFunction")
        assert r.returncode == 0, r.stdout + r.stderr
        art = p.path(".aws-sam", "build", "MadeFunction")
        assert f"make --makefile {p.dir}/made/Makefile build-MadeFunction ARTIFACTS_DIR={art}" in r.stdout, r.stdout
        assert os.access(os.path.join(art, "bootstrap"), os.X_OK)
        # a name that is no function fails the build
        bad = p.build("NoSuchFunction")
        assert bad.returncode == 1 and "not a function" in bad.stderr, bad.stderr
        with p.sfnd("--parameter-overrides", "Greeting=Hi") as s:
            assert f"MadeFunction                 {fn_arn('MadeFunction')} ({art})" in s.output(), s.output()
            printed, text = cli_invoke(s, "MadeFunction", {"n": 1})
            assert printed["StatusCode"] == 200 and "FunctionError" not in printed, printed
            assert json.loads(text) == {"made": True, "greeting": "Hi", "event": {"n": 1}}, text


def test_newer_build_wins_over_sources():
    """A build newer than the CodeUri folder runs; sources edited after it
    run instead (the build is stale)."""
    with Project() as p:
        build = p.path(".aws-sam", "build", "HelloPythonFunction")
        shutil.copytree(p.path("hello-python"), build)
        with open(os.path.join(build, "app.py"), "a") as f:
            f.write("\n_orig = lambda_handler\n"
                    "def lambda_handler(event, context):\n"
                    "    return dict(_orig(event, context), built=True)\n")
        now = time.time()
        os.utime(p.path("hello-python", "app.py"), (now - 60, now - 60))
        os.utime(os.path.join(build, "app.py"), (now - 30, now - 30))
        with p.sfnd() as s:
            assert f"({build})" in s.output(), s.output()
            _, body = boto_invoke(s.boto("lambda"), PY_NAME, {})
            assert json.loads(body).get("built") is True, body
        os.utime(p.path("hello-python", "app.py"), (now, now))
        with p.sfnd() as s:
            assert f"HelloPythonFunction          {fn_arn(PY_NAME)} ({p.dir}/hello-python)" in s.output()
            _, body = boto_invoke(s.boto("lambda"), PY_NAME, {})
            assert "built" not in json.loads(body), body


def test_codeuri_confined_to_the_project():
    """A CodeUri leaving the template's directory (.., an absolute path, a
    symbolic link) is refused with a message; S3 and unknown runtimes are
    named; the other functions run."""
    with Project() as p:
        outside = os.path.join(p.root, "outside")
        os.makedirs(outside)
        with open(os.path.join(outside, "bootstrap"), "w") as f:
            f.write("#!/bin/sh\nexit 1\n")
        os.chmod(os.path.join(outside, "bootstrap"), 0o755)
        os.symlink(outside, p.path("linked"))
        p.add_resources("""
  UpFunction:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: ../outside, Runtime: provided.al2023, Handler: bootstrap}
  AbsFunction:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: %s, Runtime: provided.al2023, Handler: bootstrap}
  LinkedFunction:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: linked/, Runtime: provided.al2023, Handler: bootstrap}
  S3Function:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: s3://bucket/key.zip, Runtime: python3.11, Handler: app.handler}
  JavaFunction:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: hello-python/, Runtime: java21, Handler: a.B::handle}
""" % outside)
        with p.sfnd() as s:
            out = s.output()
            for want in ("function UpFunction: CodeUri '../outside' leads outside the project "
                         f"directory {p.dir}: refused",
                         f"function AbsFunction: CodeUri '{outside}' leads outside the project",
                         f"function LinkedFunction: CodeUri 'linked/' is a symbolic link to {outside}, "
                         "outside the project directory",
                         "function S3Function: CodeUri s3://bucket/key.zip is in S3",
                         "function JavaFunction: Runtime java21 is not provided locally"):
                assert want in out, (want, out)
            names = {f["FunctionName"] for f in s.boto("lambda").list_functions()["Functions"]}
            assert not names & {"UpFunction", "AbsFunction", "LinkedFunction", "S3Function",
                                "JavaFunction"}, names
            assert PY_NAME in names and "ShellFunction" in names, names


# ---- 2. runtimes ----------------------------------------------------------------------
def test_node_functions():
    """Async and callback handlers, the context, errors and init errors, the
    log tail; through boto3 and the AWS CLI."""
    with Project() as p, p.sfnd("--parameter-overrides", "Greeting=Howdy") as s:
        if not NODE:
            for fn in NODE_FNS:
                assert f"function {fn}: Runtime nodejs20.x needs Node.js on this machine" in s.output(), s.output()
            print("node is not installed: Node.js invocations skipped", flush=True)
            return
        lam = s.boto("lambda")
        cc = base64.b64encode(json.dumps({"custom": {"caller": "e2e"}}).encode()).decode()
        r, body = boto_invoke(lam, "HelloNodeFunction", {"name": "Ann"}, LogType="Tail", ClientContext=cc)
        assert r["StatusCode"] == 200 and "FunctionError" not in r, r
        d = json.loads(body)
        rid = r["ResponseMetadata"]["RequestId"]
        assert d["message"] == "Howdy, Ann!" and d["stage"] == "dev" and d["logLevel"] == "DEBUG", d
        c = d["context"]
        assert c["awsRequestId"] == rid, (c, rid)
        assert c["functionName"] == "HelloNodeFunction" and c["functionVersion"] == "$LATEST", c
        assert c["invokedFunctionArn"] == fn_arn("HelloNodeFunction"), c
        assert c["memoryLimitInMB"] == "256" and c["logGroupName"] == "/aws/lambda/HelloNodeFunction", c
        assert c["logStreamName"].startswith(time.strftime("%Y/%m/%d/[$LATEST]", time.gmtime())), c
        assert 0 < c["remaining"] <= 5000, c
        assert c["clientContext"] == {"custom": {"caller": "e2e"}}, c
        e = d["env"]
        assert e["AWS_EXECUTION_ENV"] == "AWS_Lambda_nodejs20.x" and e["_HANDLER"] == "src/app.handler", e
        assert e["LAMBDA_TASK_ROOT"] == p.path("hello-node") and e["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256", e
        t = tail_of(r)
        assert t.startswith(f"START RequestId: {rid} Version: $LATEST\n"), t
        assert f"\t{rid}\tINFO\thello from node {{\"name\":\"Ann\"}}\n" in t, t
        assert f"END RequestId: {rid}\nREPORT RequestId: {rid}\tDuration: " in t, t

        # the AWS CLI, --log-type Tail
        printed, text = cli_invoke(s, "HelloNodeFunction", {"name": "Bo"}, "--log-type", "Tail")
        assert json.loads(text)["message"] == "Howdy, Bo!", text
        assert "hello from node" in base64.b64decode(printed["LogResult"]).decode(), printed

        # an error: AWS's Node.js shape {errorType, errorMessage, trace}
        r, body = boto_invoke(lam, "HelloNodeFunction", {"fail": "Cy"})
        assert r["FunctionError"] == "Unhandled", r
        err = json.loads(body)
        assert err["errorType"] == "GreetingFailed" and err["errorMessage"] == "cannot greet Cy", err
        assert err["trace"][0] == "GreetingFailed: cannot greet Cy", err
        assert any("hello-node/src/app.mjs:" in line for line in err["trace"]), err

        # callback: the timer's line after the callback is in the same invocation's log
        r, body = boto_invoke(lam, "CallbackNodeFunction", {}, LogType="Tail")
        d = json.loads(body)
        assert d["waits"] is True and d["calls"] == 1, d
        assert "timer after the callback (call 1)" in tail_of(r), tail_of(r)
        r, body = boto_invoke(lam, "CallbackNodeFunction", {"fail": "x"})
        err = json.loads(body)
        assert r["FunctionError"] == "Unhandled" and err["errorType"] == "TypeError", err
        assert err["errorMessage"] == "bad event: x", err

        # init error: the module cannot be imported
        printed, text = cli_invoke(s, "BrokenImportFunction", {})
        assert printed["FunctionError"] == "Unhandled", printed
        err = json.loads(text)
        assert err["errorType"] == "Runtime.ImportModuleError", err
        assert "Cannot find module 'left-pad-that-is-not-installed'" in err["errorMessage"], err


def test_python_functions():
    with Project() as p, p.sfnd() as s:
        lam = s.boto("lambda")
        cc = base64.b64encode(json.dumps({"custom": {"k": "v"}, "env": {}}).encode()).decode()
        r, body = boto_invoke(lam, PY_NAME, {"name": "Di"}, LogType="Tail", ClientContext=cc)
        assert r["StatusCode"] == 200 and "FunctionError" not in r, (r, body)
        d = json.loads(body)
        rid = r["ResponseMetadata"]["RequestId"]
        assert d["message"] == "Hello, Di!" and d["mode"] == "relaxed" and d["logLevel"] == "DEBUG", d
        c = d["context"]
        assert c["aws_request_id"] == rid and c["function_name"] == PY_NAME, c
        assert c["function_version"] == "$LATEST" and c["invoked_function_arn"] == fn_arn(PY_NAME), c
        assert c["memory_limit_in_mb"] == "256" and c["log_group_name"] == f"/aws/lambda/{PY_NAME}", c
        assert 0 < c["remaining"] <= 5000 and c["client_context_custom"] == {"k": "v"}, c
        t = tail_of(r)
        assert 'hello from python {"name": "Di"}\n' in t, t
        assert f"[INFO]\t" in t and f"\t{rid}\tstage dev\n" in t, t
        assert "REPORT RequestId: " in t, t

        # an error: {errorMessage, errorType, requestId, stackTrace: [strings]}
        printed, text = cli_invoke(s, PY_NAME, {"fail": "Ed"}, "--log-type", "Tail")
        assert printed["FunctionError"] == "Unhandled", printed
        err = json.loads(text)
        assert err["errorType"] == "GreetingFailed" and err["errorMessage"] == "cannot greet Ed", err
        assert len(err["requestId"]) == 36 and isinstance(err["stackTrace"], list), err
        assert all(isinstance(x, str) for x in err["stackTrace"]), err
        assert 'hello-python/app.py", line ' in err["stackTrace"][-1], err
        assert "[ERROR] GreetingFailed: cannot greet Ed" in base64.b64decode(printed["LogResult"]).decode()

        # init error: the handler is not in the module
        r, body = boto_invoke(lam, "MissingHandlerFunction", {})
        err = json.loads(body)
        assert r["FunctionError"] == "Unhandled" and err["errorType"] == "Runtime.HandlerNotFound", err
        assert err["errorMessage"] == "Handler 'no_such_handler' missing on module 'app'", err


def test_shell_bootstrap():
    """AWS's tutorial bootstrap (#!/bin/sh, set -euo pipefail, source) runs."""
    with Project() as p, p.sfnd() as s:
        printed, text = cli_invoke(s, "ShellFunction", {"a": 1})
        assert "FunctionError" not in printed, (printed, text)
        assert text == "Echoing request: '{\"a\": 1}'", text
        r, body = boto_invoke(s.boto("lambda"), "ShellFunction", {"b": 2}, LogType="Tail")
        assert body == "Echoing request: '{\"b\": 2}'", body
        assert '{"b": 2}' in tail_of(r), tail_of(r)  # the handler's stderr


def test_runtime_version_mismatch():
    """nodejs22.x / python3.99 on this machine: refused with a message, or
    run with --runtime-mismatch=run."""
    with Project() as p:
        p.add_resources("""
  FuturePythonFunction:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: hello-python/, Handler: app.lambda_handler, Runtime: python3.99}
  FutureNodeFunction:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: hello-node/, Handler: src/app.handler, Runtime: nodejs99.x}
""")
        with Sfnd(template=p.template) as s:
            out = s.output()
            assert ("function FuturePythonFunction: Runtime python3.99, but this machine's python is "
                    f"{PY_MINOR}.") in out, out
            assert "or start sfnd with --runtime-mismatch=run to run it on Python" in out, out
            if NODE:
                assert "function FutureNodeFunction: Runtime nodejs99.x, but this machine's node is " in out, out
            names = {f["FunctionName"] for f in s.boto("lambda").list_functions()["Functions"]}
            assert "FuturePythonFunction" not in names and "FutureNodeFunction" not in names, names
        with Sfnd(template=p.template, extra=["--runtime-mismatch=run"]) as s:
            assert "warning: function FuturePythonFunction: Runtime python3.99 runs on this machine's python" in s.output()
            _, body = boto_invoke(s.boto("lambda"), "FuturePythonFunction", {"name": "Fy"})
            assert json.loads(body)["message"] == "Hello, Fy!", body


# ---- 3. the Lambda API ------------------------------------------------------------------
def test_list_and_get_functions():
    with Project() as p, p.sfnd() as s:
        lam = s.boto("lambda")
        fns = lam.list_functions()["Functions"]
        names = [f["FunctionName"] for f in fns]
        want = sorted(["HelloNodeFunction", "CallbackNodeFunction", "BrokenImportFunction", PY_NAME,
                       "MissingHandlerFunction", "ShellFunction"] if NODE else
                      [PY_NAME, "MissingHandlerFunction", "ShellFunction"])
        assert names == want, names
        page = lam.list_functions(MaxItems=2)
        assert len(page["Functions"]) == 2 and "NextMarker" in page, page
        rest = lam.list_functions(Marker=page["NextMarker"])["Functions"]
        assert [f["FunctionName"] for f in page["Functions"] + rest] == want
        # the paginator the SDK users use
        got = [f["FunctionName"] for pg in lam.get_paginator("list_functions").paginate(
            PaginationConfig={"PageSize": 2}) for f in pg["Functions"]]
        assert got == want, got

        cfg = lam.get_function_configuration(FunctionName=PY_NAME)
        for k, v in {"FunctionName": PY_NAME, "FunctionArn": fn_arn(PY_NAME), "Runtime": "python3.11",
                     "Handler": "app.lambda_handler", "Timeout": 5, "MemorySize": 256,
                     "Version": "$LATEST", "State": "Active", "LastUpdateStatus": "Successful",
                     "PackageType": "Zip", "Architectures": ["x86_64"]}.items():
            assert cfg[k] == v, (k, cfg)
        assert cfg["Environment"]["Variables"] == {"STAGE": "dev", "GREETING": "Hello",
                                                   "LOG_LEVEL": "DEBUG", "MODE": "relaxed"}, cfg
        g = lam.get_function(FunctionName=fn_arn("ShellFunction"))
        assert g["Configuration"]["Runtime"] == "provided.al2023", g
        assert g["Configuration"]["Handler"] == "function.handler", g
        assert g["Code"]["RepositoryType"] == "S3", g
        try:
            lam.get_function(FunctionName="NoSuchFunction")
            raise AssertionError("GetFunction of an unknown function succeeded")
        except ClientError as e:
            assert e.response["Error"]["Code"] == "ResourceNotFoundException", e.response
            assert fn_arn("NoSuchFunction") in e.response["Error"]["Message"], e.response

        # the AWS CLI
        _, out, _ = s.cli("lambda", "list-functions")
        assert [f["FunctionName"] for f in out["Functions"]] == want, out
        _, out, _ = s.cli("lambda", "get-function", "--function-name", "ShellFunction")
        assert out["Configuration"]["State"] == "Active", out
        _, out, _ = s.cli("lambda", "get-function-configuration", "--function-name", PY_NAME)
        assert out["Runtime"] == "python3.11" and out["MemorySize"] == 256, out
        rc, _, err = s.cli("lambda", "get-function-configuration", "--function-name", "Nope",
                           check=False)
        assert rc != 0 and "ResourceNotFoundException" in err, err


def test_event_dryrun_and_limits():
    with Project() as p, p.sfnd() as s:
        lam = s.boto("lambda")
        # Event through the AWS CLI: 202 at once, the function runs
        printed, _ = cli_invoke(s, PY_NAME, {"name": "Async"}, "--invocation-type", "Event")
        assert printed["StatusCode"] == 202, printed
        assert wait_for(lambda: 'hello from python {"name": "Async"}' in read_log(s, PY_NAME)), read_log(s, PY_NAME)
        # a failing one: tried three times with the same request id (retries
        # after 1 and 2 minutes, 600 times faster here), then dropped
        r = lam.invoke(FunctionName=PY_NAME, InvocationType="Event", Payload=b'{"fail": "Ev"}')
        assert r["StatusCode"] == 202, r
        rid = r["ResponseMetadata"]["RequestId"]
        done = f"asynchronous invocation {rid} failed (GreetingFailed), attempt 3 of 3: dropped"
        assert wait_for(lambda: done in read_log(s, PY_NAME)), read_log(s, PY_NAME)
        log = read_log(s, PY_NAME)
        assert log.count("cannot greet Ev") >= 3, log
        assert f"asynchronous invocation {rid} failed (GreetingFailed), attempt 1 of 3: retried in 100 ms" in log
        assert f"asynchronous invocation {rid} failed (GreetingFailed), attempt 2 of 3: retried in 200 ms" in log
        # DryRun: 204, nothing runs
        r = lam.invoke(FunctionName=PY_NAME, InvocationType="DryRun", Payload=b'{"name": "Dry"}')
        assert r["StatusCode"] == 204, r
        time.sleep(0.2)
        assert '"Dry"' not in read_log(s, PY_NAME)
        # 256 KB for Event, 6 MB for RequestResponse
        big = json.dumps({"pad": "x" * (256 * 1024)}).encode()
        try:
            lam.invoke(FunctionName=PY_NAME, InvocationType="Event", Payload=big)
            raise AssertionError("a 256 KB+ Event invocation was accepted")
        except ClientError as e:
            assert e.response["Error"]["Code"] == "RequestEntityTooLargeException", e.response
            assert "too large for the Event invocation type (limit 262144 bytes)" in e.response["Error"]["Message"]
        r, body = boto_invoke(lam, PY_NAME, {"pad": "x" * (256 * 1024)})
        assert r["StatusCode"] == 200 and "FunctionError" not in r, body[:200]


def test_parameter_override_prod():
    """Stage=prod: the Condition, the Mapping and the prod-only function."""
    with Project() as p, p.sfnd("--parameter-overrides", "Stage=prod", "Greeting=Salut") as s:
        lam = s.boto("lambda")
        _, body = boto_invoke(lam, PY_NAME, {"name": "Flo"})
        d = json.loads(body)
        assert d["message"] == "Salut, Flo!" and d["stage"] == "prod", d
        assert d["mode"] == "strict" and d["logLevel"] == "WARN", d
        names = {f["FunctionName"] for f in lam.list_functions()["Functions"]}
        assert "ProdOnlyFunction" in names, names


# ---- 4. an activity worker ------------------------------------------------------------
def test_activity_worker():
    """GreetAndApprove: the Python function greets, then an activity task
    waits for a worker; a boto3 worker thread (GetActivityTask, heartbeat,
    SendTaskSuccess) approves it."""
    import threading
    act = f"arn:aws:states:{REGION}:{ACCOUNT}:activity:sfnd-approval"
    with Project() as p, p.sfnd() as s:
        assert f"activity      ApprovalActivity             {act}" in s.output(), s.output()
        got, errors = [], []

        def worker():
            try:
                sfn = s.boto()
                while not got:
                    t = sfn.get_activity_task(activityArn=act, workerName="approver")
                    if not t.get("taskToken"):
                        continue
                    got.append(json.loads(t["input"]))
                    sfn.send_task_heartbeat(taskToken=t["taskToken"])
                    sfn.send_task_success(taskToken=t["taskToken"],
                                          output=json.dumps(dict(got[0], approved=True)))
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)
        th = threading.Thread(target=worker, daemon=True)
        th.start()
        sfn = s.boto()
        sm = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:GreetAndApprove"
        arn = sfn.start_execution(stateMachineArn=sm, input='{"name": "Eve"}')["executionArn"]
        d = s.wait_done(arn, timeout=60)
        th.join(10)
        assert not errors, errors
        assert d["status"] == "SUCCEEDED", d
        assert json.loads(d["output"]) == {"message": "Hello, Eve!", "approved": True}, d
        assert got == [{"message": "Hello, Eve!"}], got
        ev = sfn.get_execution_history(executionArn=arn)["events"]
        started = [e for e in ev if e["type"] == "ActivityStarted"]
        assert started[0]["activityStartedEventDetails"] == {"workerName": "approver"}, ev


if __name__ == "__main__":
    main([test_startup_lists_where_it_looked, test_sfnd_build_then_run,
          test_newer_build_wins_over_sources, test_codeuri_confined_to_the_project,
          test_node_functions, test_python_functions, test_shell_bootstrap,
          test_runtime_version_mismatch, test_list_and_get_functions,
          test_event_dryrun_and_limits, test_parameter_override_prod, test_activity_worker])
