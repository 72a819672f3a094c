"""test_sfnd_exposure.py - sfnd stays private and survives abusive clients.

Issue 12 (connections, exposure, protocol), against a real sfnd and the
repo's template.yaml:
- a browser's cross-site POST to the Lambda Invoke route (text/plain, a
  foreign Origin and/or Host) is refused and writes nothing;
- the AWS CLI and boto3 (signed, Host 127.0.0.1:PORT) still work;
- protocol errors (400, 413, 431) carry an AWS JSON error body;
- slowloris: header timeout, idle timeout, the connection cap (503 with an
  AWS-shaped body), and a long poll (Sfnd.WaitExecution) outliving them;
- out of file descriptors: no busy loop, recovery by itself;
- --host beyond loopback warns loudly; IPv6 addresses print in brackets.
"""
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sfnd_harness import SFND, TEMPLATE, Sfnd, client_env, event, free_port, main  # noqa: E402


def raw_http(port, data, timeout=5.0, host="127.0.0.1"):
    """Send raw bytes, read until the server closes or a full response is in."""
    s = socket.create_connection((host, port), timeout=timeout)
    try:
        s.sendall(data)
        return read_response(s)
    finally:
        s.close()


def read_response(s):
    buf = b""
    while True:
        head_end = buf.find(b"\r\n\r\n")
        if head_end >= 0:
            head = buf[:head_end].decode("latin-1")
            n = 0
            for line in head.split("\r\n")[1:]:
                k, _, v = line.partition(":")
                if k.strip().lower() == "content-length":
                    n = int(v)
            if len(buf) >= head_end + 4 + n:
                status = int(head.split(" ")[1])
                body = buf[head_end + 4:head_end + 4 + n]
                return status, head, body
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            return None, buf.decode("latin-1"), b""
        buf += chunk


def aws_error(body):
    d = json.loads(body)
    assert isinstance(d.get("__type"), str) and isinstance(d.get("message"), str), d
    return d["__type"]


def test_cross_site_invoke_refused():
    """The issue's repro: a cross-site "simple" POST to Invoke wrote a booking."""
    trip = json.loads(event("success.json"))
    payload = json.dumps(trip).encode()
    with Sfnd() as s:
        before = s.bookings()
        path = "/2015-03-31/functions/CancelHotelFunction/invocations"
        variants = [
            # what a web page's fetch/form makes: everything foreign
            {"Host": "evil.example:%d" % s.port, "Origin": "http://evil.example",
             "Content-Type": "text/plain"},
            # DNS rebinding: same-origin for the browser, foreign Host
            {"Host": "rebind.example:%d" % s.port, "Content-Type": "application/json"},
            # our Host, foreign Origin
            {"Host": "127.0.0.1:%d" % s.port, "Origin": "http://evil.example",
             "Content-Type": "application/json"},
            # our Host, no Origin (an old browser), a form content type
            {"Host": "127.0.0.1:%d" % s.port, "Content-Type": "text/plain;charset=UTF-8"},
            {"Host": "127.0.0.1:%d" % s.port, "Content-Type": "application/x-www-form-urlencoded"},
        ]
        for h in variants:
            head = "POST %s HTTP/1.1\r\n" % path
            head += "".join("%s: %s\r\n" % kv for kv in h.items())
            head += "Content-Length: %d\r\n\r\n" % len(payload)
            st, rhead, body = raw_http(s.port, head.encode() + payload)
            assert st == 403, (h, st, rhead, body)
            assert aws_error(body) == "AccessDeniedException", body
        # the Step Functions route too
        st, _, body = raw_http(s.port, b"POST / HTTP/1.1\r\nHost: evil.example\r\n"
                               b"X-Amz-Target: AWSStepFunctions.ListStateMachines\r\n"
                               b"Content-Type: text/plain\r\nContent-Length: 2\r\n\r\n{}")
        assert st == 403 and aws_error(body) == "AccessDeniedException", (st, body)
        time.sleep(0.5)
        assert s.bookings() == before, (before, s.bookings())

        # the real clients still work: boto3 and the AWS CLI, signed, Host 127.0.0.1:PORT
        lam = s.boto("lambda")
        r = lam.invoke(FunctionName="CancelHotelFunction", Payload=payload)
        assert r["StatusCode"] == 200 and "FunctionError" not in r, r
        assert s.bookings().get(trip["tripId"], {}).get("HOTEL") == "CANCELLED", s.bookings()
        sms = s.boto().list_state_machines()["stateMachines"]
        assert any(m["name"] == "TripSagaStateMachine" for m in sms), sms
        _, out, _ = s.cli("stepfunctions", "list-state-machines")
        assert any(m["name"] == "TripSagaStateMachine" for m in out["stateMachines"]), out
        # localhost and our own Origin are fine; so is an unsigned JSON POST (curl)
        st, _, body = raw_http(s.port, ("POST / HTTP/1.1\r\nHost: localhost:%d\r\n"
                                        "Origin: http://localhost:%d\r\n"
                                        "X-Amz-Target: AWSStepFunctions.ListStateMachines\r\n"
                                        "Content-Type: application/x-amz-json-1.0\r\n"
                                        "Content-Length: 2\r\n\r\n{}" % (s.port, s.port)).encode())
        assert st == 200, (st, body)


def test_allow_origin_option():
    with Sfnd(extra=["--allow-origin", "http://app.example:3000"]) as s:
        def call(origin):
            st, _, body = raw_http(s.port, ("POST / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                                            "Origin: %s\r\n"
                                            "X-Amz-Target: AWSStepFunctions.ListStateMachines\r\n"
                                            "Content-Type: application/x-amz-json-1.0\r\n"
                                            "Content-Length: 2\r\n\r\n{}" % (s.port, origin)).encode())
            return st
        assert call("http://app.example:3000") == 200
        assert call("http://app.example:3001") == 403


def test_protocol_errors_have_aws_bodies():
    with Sfnd() as s:
        st, head, body = raw_http(s.port, b"GARBAGE\r\n\r\n")
        assert st == 400 and aws_error(body), (st, head, body)
        assert "application/x-amz-json-1.0" in head, head
        big = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n"
        st, head, body = raw_http(s.port, big)
        assert st == 431 and aws_error(body), (st, head, body)
        st, head, body = raw_http(s.port, b"POST / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                                  b"Content-Length: 99999999\r\n\r\n" % s.port)
        assert st == 413 and aws_error(body), (st, head, body)


def sfnd_cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


def test_slowloris_timeouts_and_cap():
    cap = 20
    with Sfnd(extra=["--header-timeout", "0.5", "--idle-timeout", "1.5",
                     "--max-connections", str(cap)]) as s:
        # a long poll the server holds outlives the idle and header timeouts
        sfn = s.boto()
        arn = sfn.create_state_machine(
            name="Waiter", roleArn="arn:aws:iam::123456789012:role/r",
            definition=json.dumps({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 3,
                                                                      "End": True}}}))["stateMachineArn"]
        x = sfn.start_execution(stateMachineArn=arn)["executionArn"]
        t0 = time.time()
        st, d = s.raw("Sfnd.WaitExecution", {"executionArn": x, "timeoutSeconds": 20})
        assert st == 200 and d["status"] == "SUCCEEDED", (st, d)
        assert time.time() - t0 >= 2, time.time() - t0

        # slowloris: more half-sent heads than the cap
        socks = []
        for _ in range(cap + 10):
            c = socket.create_connection(("127.0.0.1", s.port), timeout=5)
            c.sendall(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            socks.append(c)
            time.sleep(0.005)
        t0 = time.time()
        got = {}
        for c in socks:
            st, head, body = read_response(c)
            got[st] = got.get(st, 0) + 1
            if st is not None:
                assert aws_error(body) in ("RequestTimeoutException",
                                           "ServiceUnavailableException"), body
            if st == 503:
                assert aws_error(body) == "ServiceUnavailableException"
            c.close()
        assert got.get(503, 0) >= 10, got
        assert got.get(408, 0) >= 1, got
        assert time.time() - t0 < 4, time.time() - t0
        # and the server serves again
        st, _ = s.raw("AWSStepFunctions.ListStateMachines", {})
        assert st == 200

        # idle keep-alive: closed after the idle timeout, silently
        c = socket.create_connection(("127.0.0.1", s.port), timeout=10)
        c.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % s.port)
        st, _, _ = read_response(c)
        assert st == 200
        t0 = time.time()
        assert c.recv(100) == b""
        assert 1.0 <= time.time() - t0 < 5, time.time() - t0
        c.close()


def test_fd_exhaustion():
    """With a hard fd limit of 128 and connections held past it: no busy loop
    on EMFILE, waiting clients are answered (503) or refused rather than left
    hanging, and serving resumes by itself once the connections go."""
    def low_fds():
        resource.setrlimit(resource.RLIMIT_NOFILE, (128, 128))
    port = free_port()
    data = tempfile.mkdtemp(prefix="sfnd-e2e-")
    log = open(os.path.join(data, "sfnd.out"), "wb")
    p = subprocess.Popen([SFND, "--template", TEMPLATE, "--data", data, "--port", str(port),
                          "--quiet", "--max-connections", "1000"], stdout=log,
                         stderr=subprocess.STDOUT, env=client_env(), preexec_fn=low_fds)
    socks = []
    try:
        deadline = time.time() + 15
        while True:
            try:
                st, _, _ = raw_http(port, b"GET /health HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % port, 1)
                if st == 200:
                    break
            except OSError:
                pass
            assert time.time() < deadline and p.poll() is None, "sfnd did not start"
            time.sleep(0.05)
        for _ in range(160):
            c = socket.socket()
            c.settimeout(3)
            try:
                c.connect(("127.0.0.1", port))
            except OSError:
                c.close()
                continue
            socks.append(c)
        time.sleep(0.3)
        cpu0 = sfnd_cpu_seconds(p.pid)
        time.sleep(1.5)
        cpu = sfnd_cpu_seconds(p.pid) - cpu0
        assert cpu < 0.5, "sfnd busy while out of fds: %.2f s CPU in 1.5 s" % cpu
        # some of the ones past the limit were answered 503 (the reserve fd)
        answered = 0
        for c in socks[-40:]:
            c.settimeout(0.05)
            try:
                if c.recv(100).startswith(b"HTTP/1.1 503"):
                    answered += 1
            except OSError:
                pass
        assert answered >= 1, "no client past the fd limit was told 503"
        for c in socks:
            c.close()
        socks = []
        t0 = time.time()
        while True:
            try:
                st, _, _ = raw_http(port, b"GET /health HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % port, 1)
                if st == 200:
                    break
            except OSError:
                pass
            assert time.time() - t0 < 5, "sfnd did not recover after the fds came back"
            time.sleep(0.05)
        assert p.poll() is None
    finally:
        for c in socks:
            c.close()
        p.terminate()
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        log.close()
        subprocess.run(["rm", "-rf", data])


def start_and_read(host, port):
    data = tempfile.mkdtemp(prefix="sfnd-e2e-")
    p = subprocess.Popen([SFND, "--template", TEMPLATE, "--data", data, "--port", str(port),
                          "--host", host, "--quiet"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=client_env(), text=True)
    try:
        out = ""
        deadline = time.time() + 15
        while "listening on" not in out and time.time() < deadline and p.poll() is None:
            out += p.stdout.readline()
    finally:
        p.terminate()
        try:
            _, err = p.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
            _, err = p.communicate()
        subprocess.run(["rm", "-rf", data])
    return out, err


def ipv6_ok():
    try:
        s = socket.socket(socket.AF_INET6)
        s.bind(("::1", 0))
        s.close()
        return True
    except OSError:
        return False


def test_host_warning_and_ipv6_url():
    port = free_port()
    out, err = start_and_read("0.0.0.0", port)
    assert "http://0.0.0.0:%d" % port in out, out
    assert "WARNING" in err and "beyond loopback" in err, err
    out, err = start_and_read("127.0.0.1", free_port())
    assert "WARNING" not in err, err
    if ipv6_ok():
        port = free_port()
        out, err = start_and_read("::", port)
        assert "http://[::]:%d" % port in out, out
        assert "WARNING" in err, err
        port = free_port()
        out, err = start_and_read("::1", port)
        assert "http://[::1]:%d" % port in out, out
        assert "WARNING" not in err, err


if __name__ == "__main__":
    main([test_cross_site_invoke_refused, test_allow_origin_option,
          test_protocol_errors_have_aws_bodies, test_slowloris_timeouts_and_cap,
          test_fd_exhaustion, test_host_warning_and_ipv6_url])
