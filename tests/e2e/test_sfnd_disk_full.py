"""test_sfnd_disk_full.py - issue 12's full disk, end to end.

sfnd's data directory (its store, the bookings tables, the function logs)
sits on a small filesystem that the test fills while executions run:

- reads go on (Describe/List/GetExecutionHistory, /health says "degraded"),
  Express executions still run;
- every write (StartExecution, CreateStateMachine, StopExecution) gets a
  retryable 503 ServiceUnavailable in AWS's JSON shape and changes nothing;
- sfnd stays up, and a restart on the full disk starts (read-only);
- when space returns it resumes by itself: every execution that was
  acknowledged ends right (the Wait machines SUCCEEDED, each saga either
  SUCCEEDED with its bookings BOOKED or compensated with none left BOOKED),
  and writes are taken again.

The filesystem is a tmpfs mounted in a private mount namespace (`unshare -m`
as root, `unshare -r -m` as a user). Where neither is allowed, sfnd's store
fails its writes on demand instead (SFN_TEST_FULL_FLAG in src/sqlvfs), and
the test says so.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sfnd_harness import SAGA_ARN, Sfnd, event, main  # noqa: E402

WAIT_DEF = json.dumps({"StartAt": "W", "States": {
    "W": {"Type": "Wait", "Seconds": 40, "Next": "P"},
    "P": {"Type": "Pass", "Result": {"waited": True}, "End": True}}})
EXPRESS_DEF = json.dumps({"StartAt": "P", "States": {
    "P": {"Type": "Pass", "Parameters": {"echo.$": "$.x"}, "End": True}}})
ROLE = "arn:aws:iam::123456789012:role/test"
SCALE = 10  # Wait 40 s -> 4 s

MODE = os.environ.get("SFN_DISKFULL_MODE")


def reexec_in_namespace():
    """Run this file again in a private mount namespace where a tmpfs can be
    mounted; returns False when this machine allows none."""
    cmds = ([["unshare", "-m"]] if os.geteuid() == 0 else []) + [["unshare", "-r", "-m"]]
    for cmd in cmds:
        d = tempfile.mkdtemp(prefix="sfnd-mnt-")
        try:
            p = subprocess.run(cmd + ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", d],
                               capture_output=True, timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            p = None
        os.rmdir(d)
        if p is not None and p.returncode == 0:
            env = dict(os.environ, SFN_DISKFULL_MODE="tmpfs")
            sys.exit(subprocess.call(cmd + [sys.executable, os.path.abspath(__file__)], env=env))
    return False


class Disk:
    """The small filesystem, or the injected one."""

    def __init__(self):
        self.root = tempfile.mkdtemp(prefix="sfnd-full-")
        self.flag = None
        if MODE == "tmpfs":
            subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", self.root], check=True)
        else:
            self.flag = os.path.join(tempfile.mkdtemp(prefix="sfnd-flag-"), "full")
        self.data = os.path.join(self.root, "data")
        os.makedirs(self.data)
        self.filler = os.path.join(self.root, "filler")

    def env_extra(self):
        return {"SFN_TEST_FULL_FLAG": self.flag} if self.flag else {}

    def fill(self):
        if self.flag:
            open(self.flag, "w").close()
            return
        # unbuffered, so that nothing is left to flush (and fail) at close:
        # large writes first, then what is left over, block by block
        for path, size in ((self.filler, 65536), (self.filler + "2", 512)):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                while os.write(fd, b"\0" * size) > 0:
                    pass
            except OSError:
                pass
            finally:
                os.close(fd)

    def free(self):
        if self.flag:
            os.unlink(self.flag)
            return
        for p in (self.filler, self.filler + "2"):
            if os.path.exists(p):
                os.unlink(p)

    def cleanup(self):
        if MODE == "tmpfs":
            subprocess.run(["umount", "-l", self.root])
        shutil.rmtree(self.root, ignore_errors=True)
        if self.flag:
            shutil.rmtree(os.path.dirname(self.flag), ignore_errors=True)


def health(s):
    with urllib.request.urlopen(s.url + "/health", timeout=10) as r:
        assert r.status == 200
        return json.loads(r.read())


def trip(n, fail=False):
    x = json.loads(event("success.json"))
    x["tripId"] = n
    if fail:
        x["failBookFlight"] = True
    return json.dumps(x)


def expect_503(status, body, what):
    assert status == 503, f"{what}: {status} {body}"
    assert isinstance(body, dict) and body.get("__type") == "ServiceUnavailable", f"{what}: {body}"
    assert "retry" in body.get("message", ""), body


def saga_ended_right(s, arn, trip_id, books):
    d = s.wait_done(arn, timeout=120)
    mine = books.get(trip_id, {})
    if d["status"] == "SUCCEEDED":
        assert mine and all(v == "BOOKED" for v in mine.values()), (trip_id, mine)
    else:
        assert d["status"] == "FAILED", d
        assert "BOOKED" not in mine.values(), (trip_id, mine, d.get("cause"))
    return d["status"]


def test_full_disk():
    disk = Disk()
    env_extra = disk.env_extra()
    os.environ.update(env_extra)  # client_env() passes it on to sfnd
    s = Sfnd(data=disk.data, time_scale=SCALE)
    try:
        s.start()
        c = s.boto()
        wait_arn = c.create_state_machine(name="Waiter", definition=WAIT_DEF, roleArn=ROLE)["stateMachineArn"]
        expr_arn = c.create_state_machine(name="Quick", definition=EXPRESS_DEF, roleArn=ROLE,
                                          type="EXPRESS")["stateMachineArn"]
        waiters = [c.start_execution(stateMachineArn=wait_arn, name=f"w{i}")["executionArn"]
                   for i in range(8)]
        t_waiters = time.time()
        sagas = {}
        for i in range(6):
            tid = f"before-{i}"
            sagas[tid] = c.start_execution(stateMachineArn=SAGA_ARN, input=trip(tid, fail=i % 3 == 2))["executionArn"]

        # sagas racing the disk filling up
        stop = threading.Event()
        refused = []

        def racer():
            i = 0
            while not stop.is_set():
                tid = f"race-{i}"
                st, body = s.raw("AWSStepFunctions.StartExecution",
                                 {"stateMachineArn": SAGA_ARN, "input": trip(tid, fail=i % 4 == 3)})
                if st == 200:
                    sagas[tid] = body["executionArn"]
                else:
                    expect_503(st, body, "StartExecution while filling")
                    refused.append(tid)
                i += 1
        th = threading.Thread(target=racer)
        th.start()
        time.sleep(0.2)
        disk.fill()
        time.sleep(0.5)
        stop.set()
        th.join()

        # a write now finds the store full (if nothing has yet)
        for i in range(20):
            st, body = s.raw("AWSStepFunctions.StartExecution",
                             {"stateMachineArn": SAGA_ARN, "input": trip(f"full-{i}")})
            if st == 503:
                expect_503(st, body, "StartExecution on a full disk")
                break
            sagas[f"full-{i}"] = body["executionArn"]
        else:
            raise AssertionError("no write was refused on a full disk")
        assert health(s)["status"] == "degraded", health(s)

        # writes are refused, reads served, Express runs
        st, body = s.raw("AWSStepFunctions.CreateStateMachine",
                         {"name": "Nope", "definition": EXPRESS_DEF, "roleArn": ROLE})
        expect_503(st, body, "CreateStateMachine")
        st, body = s.raw("AWSStepFunctions.StopExecution", {"executionArn": waiters[0]})
        expect_503(st, body, "StopExecution")
        st, body = s.raw("AWSStepFunctions.DescribeStateMachine", {"stateMachineArn": wait_arn})
        assert st == 200, body
        st, body = s.raw("AWSStepFunctions.DescribeStateMachine",
                         {"stateMachineArn": wait_arn.replace("Waiter", "Nope")})
        assert st == 400 and body["__type"] == "StateMachineDoesNotExist", body
        listed = c.list_executions(stateMachineArn=wait_arn)["executions"]
        assert {e["executionArn"] for e in listed} == set(waiters), listed
        d = c.describe_execution(executionArn=waiters[1])
        assert d["status"] == "RUNNING", d
        assert c.get_execution_history(executionArn=waiters[1])["events"][0]["type"] == "ExecutionStarted"
        r = c.start_sync_execution(stateMachineArn=expr_arn, input='{"x": 7}')
        assert r["status"] == "SUCCEEDED" and json.loads(r["output"]) == {"echo": 7}, r

        # the waiters' deadlines pass on the full disk: they are set aside, not lost
        time.sleep(max(0.0, t_waiters + 40 / SCALE + 1.0 - time.time()))
        for a in waiters:
            assert c.describe_execution(executionArn=a)["status"] == "RUNNING", a
        assert s.proc.poll() is None, s.output()[-2000:]

        # a restart on the full disk: it starts, serves reads, refuses writes
        assert s.stop() == 0, s.output()[-2000:]
        s.start()
        c = s.boto()
        assert c.describe_execution(executionArn=waiters[2])["status"] == "RUNNING"
        st, body = s.raw("AWSStepFunctions.StartExecution", {"stateMachineArn": wait_arn})
        expect_503(st, body, "StartExecution after a restart on a full disk")
        assert health(s)["status"] == "degraded"

        # space returns: it resumes by itself
        disk.free()
        deadline = time.time() + 20
        while health(s)["status"] != "ok":
            assert time.time() < deadline, "still degraded 20 s after space returned"
            time.sleep(0.2)
        for a in waiters:
            d = s.wait_done(a, timeout=60)
            assert d["status"] == "SUCCEEDED" and json.loads(d["output"]) == {"waited": True}, d
        books = s.bookings()
        outcomes = {}
        for tid, a in sagas.items():
            st = saga_ended_right(s, a, tid, books)
            outcomes[st] = outcomes.get(st, 0) + 1
        for tid in refused:
            assert tid not in books, f"a refused start left bookings: {tid} {books[tid]}"
        # writes are taken again
        a = c.start_execution(stateMachineArn=SAGA_ARN, input=trip("after"))["executionArn"]
        assert s.wait_done(a)["status"] == "SUCCEEDED"
        print(f"  mode {MODE}: {len(waiters)} waiters SUCCEEDED; sagas {outcomes}; "
              f"{len(refused)} starts refused while filling", flush=True)
        assert "warning: the store takes no writes" in s.output()
    finally:
        s.cleanup()
        disk.cleanup()
        for k in env_extra:
            os.environ.pop(k, None)


def test_start_on_full_disk():
    """A database closed cleanly (no -wal, no -shm left) on a disk that is
    then filled: sfnd starts, serves reads, refuses writes, and takes them
    once there is room."""
    disk = Disk()
    env_extra = disk.env_extra()
    os.environ.update(env_extra)
    s = Sfnd(data=disk.data, time_scale=SCALE)
    try:
        s.start()
        c = s.boto()
        a = c.start_execution(stateMachineArn=SAGA_ARN, input=trip("clean"))["executionArn"]
        assert s.wait_done(a)["status"] == "SUCCEEDED"
        assert s.stop() == 0
        assert not os.path.exists(os.path.join(disk.data, "sfnd.db-shm")) or MODE == "flag"
        disk.fill()
        s.start()
        c = s.boto()
        assert c.describe_execution(executionArn=a)["status"] == "SUCCEEDED"
        assert c.get_execution_history(executionArn=a)["events"][-1]["type"] == "ExecutionSucceeded"
        st, body = s.raw("AWSStepFunctions.StartExecution",
                         {"stateMachineArn": SAGA_ARN, "input": trip("refused")})
        expect_503(st, body, "StartExecution after starting on a full disk")
        disk.free()
        deadline = time.time() + 20
        while True:
            st, body = s.raw("AWSStepFunctions.StartExecution",
                             {"stateMachineArn": SAGA_ARN, "input": trip("later")})
            if st == 200:
                break
            expect_503(st, body, "StartExecution once there is room")
            assert time.time() < deadline, "writes still refused 20 s after space returned"
            time.sleep(0.3)
        assert s.wait_done(body["executionArn"])["status"] == "SUCCEEDED"
        assert "refused" not in s.bookings()
        assert s.stop() == 0, s.output()[-2000:]
    finally:
        s.cleanup()
        disk.cleanup()
        for k in env_extra:
            os.environ.pop(k, None)


if __name__ == "__main__":
    if MODE is None and not reexec_in_namespace():
        print("note: no filesystem can be mounted here: the store's writes fail on demand "
              "instead (SFN_TEST_FULL_FLAG)", flush=True)
        MODE = "flag"
    main([test_full_disk, test_start_on_full_disk])
