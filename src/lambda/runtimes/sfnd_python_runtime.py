"""sfnd_python_runtime.py - sfnd's Python runtime shim: runs a python3.x
function's handler with the machine's python3, speaking the Lambda Runtime
API (AWS "Using the Lambda runtime API for custom runtimes") to sfnd's
local Lambda, as AWS's runtime interface client does on Lambda.

Started by sfnd (src/lambda/lam_runtime.c) as `python3 -B
sfnd_python_runtime.py` in the function's folder, with _HANDLER,
LAMBDA_TASK_ROOT, AWS_LAMBDA_RUNTIME_API and the other AWS_LAMBDA_*
variables set.

 - init: the handler "pkg/mod.fn" (or "pkg.mod.fn") is function fn of
   module pkg.mod, imported with LAMBDA_TASK_ROOT first on sys.path. A
   failure goes to /runtime/init/error and the process exits:
   Runtime.MalformedHandlerName, Runtime.ImportModuleError ("Unable to
   import module 'm': ..."), Runtime.UserCodeSyntaxError,
   Runtime.HandlerNotFound ("Handler 'fn' missing on module 'm'"), or the
   type of the exception the module raised at import.
 - each invocation: GET /next, handler(event, context); its return value
   (JSON-serialisable, else Runtime.MarshalError) to /response, an
   exception {"errorMessage", "errorType", "requestId", "stackTrace": [one
   string per frame]} to /error.
 - the context: aws_request_id, function_name, function_version,
   invoked_function_arn, memory_limit_in_mb, log_group_name,
   log_stream_name, identity, client_context, get_remaining_time_in_millis().
 - print() goes to stdout line by line; the logging module's records as
   "[LEVEL]\t<time>\t<request id>\t<message>".

Must not: import anything outside the standard library, put a timeout on
GET /next (the process waits there between invocations), let a handler's
exception escape the loop.
"""
import http.client
import importlib
import json
import logging
import os
import sys
import time
import traceback

API = os.environ.get("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001")
BASE = "/2018-06-01/runtime"


class Runtime:
    """One keep-alive connection to the Runtime API."""

    def __init__(self, address):
        host, _, port = address.rpartition(":")
        self.host, self.port = host, int(port)
        self.conn = None

    def call(self, method, path, body=None, headers=None):
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port)
            try:
                h = {"Content-Type": "application/json"} if body is not None else {}
                h.update(headers or {})
                self.conn.request(method, BASE + path, body=body, headers=h)
                r = self.conn.getresponse()
                return r.status, r.getheaders(), r.read()
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        return None

    def post_error(self, path, body):
        data = json.dumps(body).encode()
        etype = "".join(c if 32 <= ord(c) < 127 else "_" for c in str(body.get("errorType", "")))
        self.call("POST", path, data, {"Lambda-Runtime-Function-Error-Type": etype})


class FaultError(Exception):
    """An error with a Lambda runtime error type of its own."""

    def __init__(self, etype, message, trace=None):
        super().__init__(message)
        self.etype, self.message, self.trace = etype, message, trace or []


def error_body(exc, request_id=None):
    if isinstance(exc, FaultError):
        body = {"errorMessage": exc.message, "errorType": exc.etype}
        trace = exc.trace
    else:
        # the function's frames: not this file's, not the import machinery's
        frames = [f for f in traceback.extract_tb(exc.__traceback__)
                  if f.filename != __file__ and not f.filename.startswith("<frozen ")]
        body = {"errorMessage": str(exc), "errorType": type(exc).__name__}
        trace = traceback.format_list(frames)
    if request_id is not None:
        body["requestId"] = request_id
    body["stackTrace"] = trace
    return body


def load_handler(handler):
    try:
        modname, fname = handler.rsplit(".", 1)
    except ValueError as e:
        raise FaultError("Runtime.MalformedHandlerName", "Bad handler '%s': %s" % (handler, e))
    if not modname or not fname:
        raise FaultError("Runtime.MalformedHandlerName", "Bad handler '%s'" % handler)
    modname = modname.replace("/", ".")
    try:
        module = importlib.import_module(modname)
    except ImportError as e:
        raise FaultError("Runtime.ImportModuleError", "Unable to import module '%s': %s" % (modname, e))
    except SyntaxError as e:
        trace = ['File "%s" Line %s\n\t%s' % (e.filename, e.lineno, (e.text or "").strip())]
        raise FaultError("Runtime.UserCodeSyntaxError",
                         "Syntax error in module '%s': %s" % (modname, e), trace)
    fn = getattr(module, fname, None)
    if not callable(fn):
        raise FaultError("Runtime.HandlerNotFound", "Handler '%s' missing on module '%s'" % (fname, modname))
    return fn


class ClientContext:
    def __init__(self, d):
        self.client = d.get("client")
        self.custom = d.get("custom")
        self.env = d.get("env")


class CognitoIdentity:
    def __init__(self, d):
        self.cognito_identity_id = d.get("cognitoIdentityId")
        self.cognito_identity_pool_id = d.get("cognitoIdentityPoolId")


class LambdaContext:
    def __init__(self, headers):
        self.aws_request_id = headers.get("lambda-runtime-aws-request-id")
        self.invoked_function_arn = headers.get("lambda-runtime-invoked-function-arn")
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self._deadline_ms = int(headers.get("lambda-runtime-deadline-ms") or 0)
        cc = _json_header(headers.get("lambda-runtime-client-context"))
        self.client_context = ClientContext(cc) if isinstance(cc, dict) else None
        ident = _json_header(headers.get("lambda-runtime-cognito-identity"))
        self.identity = CognitoIdentity(ident) if isinstance(ident, dict) else None

    def get_remaining_time_in_millis(self):
        return max(self._deadline_ms - int(time.time() * 1000), 0)


def _json_header(v):
    if not v:
        return None
    try:
        return json.loads(v)
    except ValueError:
        return None


class RequestIdFilter(logging.Filter):
    request_id = None

    def filter(self, record):
        record.aws_request_id = RequestIdFilter.request_id
        return True


def setup_logging():
    sys.stdout.reconfigure(line_buffering=True)
    sys.stderr.reconfigure(line_buffering=True)
    h = logging.StreamHandler(sys.stdout)
    fmt = logging.Formatter("[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s",
                            "%Y-%m-%dT%H:%M:%S")
    fmt.converter = time.gmtime
    h.setFormatter(fmt)
    h.addFilter(RequestIdFilter())
    logging.getLogger().addHandler(h)


def invoke_once(rt, fn):
    _status, hdrs, body = rt.call("GET", "/invocation/next")
    headers = {k.lower(): v for k, v in hdrs}
    rid = headers.get("lambda-runtime-aws-request-id")
    RequestIdFilter.request_id = rid
    trace = headers.get("lambda-runtime-trace-id")
    if trace:
        os.environ["_X_AMZN_TRACE_ID"] = trace
    else:
        os.environ.pop("_X_AMZN_TRACE_ID", None)
    try:
        event = json.loads(body) if body else None
    except ValueError as e:
        rt.post_error("/invocation/%s/error" % rid,
                      {"errorMessage": "Unable to parse the event: %s" % e, "errorType": "Runtime.UnmarshalError",
                       "requestId": rid, "stackTrace": []})
        return
    try:
        result = fn(event, LambdaContext(headers))
    except Exception as e:  # noqa: BLE001 - the handler's error goes to Lambda
        sys.stdout.flush()
        b = error_body(e, rid)
        print("[ERROR] %s: %s\nTraceback (most recent call last):\n%s"
              % (b["errorType"], b["errorMessage"], "".join(b["stackTrace"])), end="", flush=True)
        rt.post_error("/invocation/%s/error" % rid, b)
        return
    sys.stdout.flush()  # a line the handler did not end belongs to this invocation too
    sys.stderr.flush()
    try:
        out = json.dumps(result).encode()
    except (TypeError, ValueError) as e:
        rt.post_error("/invocation/%s/error" % rid,
                      {"errorMessage": "Unable to marshal response: %s" % e, "errorType": "Runtime.MarshalError",
                       "requestId": rid, "stackTrace": []})
        return
    rt.call("POST", "/invocation/%s/response" % rid, out)


def main():
    setup_logging()
    root = os.environ.get("LAMBDA_TASK_ROOT") or os.getcwd()
    sys.path[0:1] = [root]
    rt = Runtime(API)
    try:
        fn = load_handler(os.environ.get("_HANDLER", ""))
    except Exception as e:  # noqa: BLE001 - any import failure is an init error
        b = error_body(e)
        print("[ERROR] %s: %s" % (b["errorType"], b["errorMessage"]), flush=True)
        rt.post_error("/init/error", b)
        sys.exit(1)
    while True:
        invoke_once(rt, fn)
        RequestIdFilter.request_id = None


if __name__ == "__main__":
    main()
