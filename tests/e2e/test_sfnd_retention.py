#!/usr/bin/env python3
"""test_sfnd_retention.py - --retention (issue 12, bounded growth): closed
executions older than the retention go with all their rows, running ones
stay whatever their age, and a removed execution is ExecutionDoesNotExist
as on AWS. --retention 0 keeps everything; a bad value stops the start."""
import json
import os
import sqlite3
import subprocess
import time
import uuid

from sfnd_harness import SAGA_ARN, SFND, TEMPLATE, Sfnd, main, trip

RETENTION_S = 2.0
DAYS = RETENTION_S / 86400.0
WAIT_SM = {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 6, "End": True}}}


def rows(data, arn):
    db = sqlite3.connect("file:%s?mode=ro" % os.path.join(data, "sfnd.db"), uri=True)
    try:
        r = db.execute("SELECT id FROM executions WHERE arn=?", (arn,)).fetchone()
        if r is None:
            return 0
        return 1 + sum(db.execute(q, (r[0],)).fetchone()[0] for q in (
            "SELECT count(*) FROM event_log WHERE exec_id=?",
            "SELECT count(*) FROM input_log WHERE exec_id=?",
            "SELECT count(*) FROM exec_end WHERE exec_id=?"))
    finally:
        db.close()


def start(s, sm, inp):
    st, d = s.raw("AWSStepFunctions.StartExecution", {"stateMachineArn": sm, "input": inp})
    assert st == 200, d
    return d["executionArn"]


def describe(s, arn):
    return s.raw("AWSStepFunctions.DescribeExecution", {"executionArn": arn})


def test_old_closed_go_running_stay():
    with Sfnd(extra=["--retention", "%.10f" % DAYS]) as s:
        st, d = s.raw("AWSStepFunctions.CreateStateMachine", {
            "name": "Waiter", "definition": json.dumps(WAIT_SM),
            "roleArn": "arn:aws:iam::123456789012:role/r"})
        assert st == 200, d
        waiter = start(s, d["stateMachineArn"], "{}")
        done = [start(s, SAGA_ARN, trip(tripId=str(uuid.uuid4()))) for _ in range(3)]
        for arn in done:
            d = s.wait_done(arn)
            assert d["status"] == "SUCCEEDED", d
        assert rows(s.data, done[0]) > 3
        # the retention, then a sweep (one a second when idle)
        deadline = time.time() + RETENTION_S + 5
        while time.time() < deadline and any(rows(s.data, a) for a in done):
            time.sleep(0.2)
        for arn in done:
            assert rows(s.data, arn) == 0, arn
            st, d = describe(s, arn)
            assert st == 400 and d["__type"].endswith("ExecutionDoesNotExist"), (st, d)
            st, d = s.raw("AWSStepFunctions.GetExecutionHistory", {"executionArn": arn})
            assert st == 400 and d["__type"].endswith("ExecutionDoesNotExist"), (st, d)
        # older than the retention, but running: untouched
        st, d = describe(s, waiter)
        assert st == 200 and d["status"] == "RUNNING", d
        assert rows(s.data, waiter) > 1
        assert s.wait_done(waiter)["status"] == "SUCCEEDED"
        st, d = describe(s, waiter)
        assert st == 200 and d["status"] == "SUCCEEDED", d
        # ended now: it goes in its turn
        deadline = time.time() + RETENTION_S + 5
        while time.time() < deadline and rows(s.data, waiter):
            time.sleep(0.2)
        assert rows(s.data, waiter) == 0
        # the service goes on
        assert s.wait_done(start(s, SAGA_ARN, trip(tripId=str(uuid.uuid4()))))["status"] == "SUCCEEDED"


def test_zero_keeps_everything():
    with Sfnd(extra=["--retention", "0"]) as s:
        arn = start(s, SAGA_ARN, trip(tripId=str(uuid.uuid4())))
        assert s.wait_done(arn)["status"] == "SUCCEEDED"
        time.sleep(2.5)
        st, d = describe(s, arn)
        assert st == 200 and d["status"] == "SUCCEEDED", d


def test_bad_value_refused():
    p = subprocess.run([SFND, "--template", TEMPLATE, "--retention", "-1", "--port", "1"],
                       capture_output=True, timeout=10)
    assert p.returncode != 0


def history(s, arn):
    st, h = s.raw("AWSStepFunctions.GetExecutionHistory", {"executionArn": arn, "maxResults": 1000})
    assert st == 200, h
    return h["events"]


def test_compress_round_trip():
    """Payloads are stored compressed by default (zstd, format byte 2);
    --no-compress stores text; what clients read is the same, and either
    sfnd reads both forms."""
    import shutil, tempfile
    data = tempfile.mkdtemp(prefix="sfnd-e2e-z-")
    try:
        with Sfnd(data=data, extra=["--no-compress"]) as s:
            plain = start(s, SAGA_ARN, trip(tripId=str(uuid.uuid4())))
            assert s.wait_done(plain)["status"] == "SUCCEEDED"
        with Sfnd(data=data) as s:
            packed = start(s, SAGA_ARN, trip(tripId=str(uuid.uuid4())))
            d = s.wait_done(packed)
            assert d["status"] == "SUCCEEDED", d
            h_packed = history(s, packed)
        db = sqlite3.connect("file:%s?mode=ro" % os.path.join(data, "sfnd.db"), uri=True)
        kinds = {r[0] for r in db.execute("SELECT typeof(body) FROM event_log")}
        formats = {r[0] for r in db.execute(
            "SELECT substr(hex(body), 1, 2) FROM event_log WHERE typeof(body) = 'blob'")}
        db.close()
        assert "blob" in kinds and "text" in kinds, kinds
        assert formats == {"02"}, formats  # zstd
        with Sfnd(data=data, extra=["--no-compress"]) as s:
            assert history(s, packed) == h_packed
            for arn in (plain, packed):
                st, d = describe(s, arn)
                assert st == 200 and d["status"] == "SUCCEEDED", d
                out = json.loads(d["output"])
                assert set(out["results"]) == {"hotel", "flight", "car"}, out
                for e in history(s, arn):
                    for k, v in e.items():
                        if k.endswith("EventDetails") and isinstance(v, dict):
                            for f in ("input", "output"):
                                if f in v:
                                    json.loads(v[f])
    finally:
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main([test_old_closed_go_running_stay, test_zero_keeps_everything, test_bad_value_refused,
          test_compress_round_trip])
