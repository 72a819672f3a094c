"""Crash test: executions of the saga (with Waits in front of every booking,
so they stay in flight) while sfnd is killed with SIGKILL at random moments
and restarted on the same data directory. Every execution whose start was
acknowledged must end, with exactly one terminal event, a continuous
history, and the saga invariant on the SQLite store: SUCCEEDED => all three
bookings BOOKED; FAILED => none BOOKED.

SFN_CRASH_N (executions per wave, default 12) and SFN_CRASH_KILLS (default 4)
scale it; SFN_CRASH_SEED fixes the random moments."""
import json
import os
import random
import sys
import time
import uuid

from sfnd_harness import Sfnd, check_history, history, main, saga_definition, trip

N = int(os.environ.get("SFN_CRASH_N", "12"))
KILLS = int(os.environ.get("SFN_CRASH_KILLS", "4"))
SEED = int(os.environ.get("SFN_CRASH_SEED", str(int(time.time()))))
SM = "arn:aws:states:us-east-1:123456789012:stateMachine:slowsaga"
INPUTS = [("success.json", {}), ("fail-book-flight.json", {}), ("fail-book-car.json", {}),
          ("success.json", {}), ("fail-book-hotel.json", {})]


def start_wave(sfn, rnd, started):
    for _ in range(N):
        name, extra = rnd.choice(INPUTS)
        tid = str(uuid.uuid4())
        try:
            arn = sfn.start_execution(stateMachineArn=SM, name="x-" + tid,
                                      input=trip(name, tripId=tid, **extra))["executionArn"]
        except Exception:  # noqa: BLE001 - the server may be gone: not acknowledged
            return
        started[arn] = (tid, name)


def test_kill_restart():
    rnd = random.Random(SEED)
    print(f"crash seed {SEED}, {N} executions per wave, {KILLS} kills", flush=True)
    s = Sfnd(time_scale=1)
    started = {}
    try:
        s.start()
        sfn = s.boto()
        sfn.create_state_machine(name="slowsaga", definition=saga_definition(wait_seconds=1),
                                 roleArn="arn:aws:iam::123456789012:role/r")
        for k in range(KILLS):
            start_wave(sfn, rnd, started)
            time.sleep(rnd.uniform(0.2, 1.6))
            s.kill()
            s.start()
            sfn = s.boto()
        start_wave(sfn, rnd, started)
        problems = []
        for arn, (tid, name) in started.items():
            d = s.wait_done(arn, timeout=90)
            if d["status"] not in ("SUCCEEDED", "FAILED"):
                problems.append(f"{arn}: {d['status']}")
                continue
            p = check_history(history(sfn, arn))
            if p:
                problems.append(f"{arn}: history: {p}")
            b = s.bookings().get(tid, {})
            booked = [k for k, v in b.items() if v == "BOOKED"]
            if d["status"] == "SUCCEEDED" and sorted(booked) != ["CAR", "FLIGHT", "HOTEL"]:
                problems.append(f"{arn} ({name}) SUCCEEDED but bookings {b}")
            if d["status"] == "FAILED" and booked:
                problems.append(f"{arn} ({name}) FAILED but bookings {b}")
            want = "SUCCEEDED" if name == "success.json" else "FAILED"
            if d["status"] != want:
                problems.append(f"{arn} ({name}) ended {d['status']} ({d.get('error')}: {d.get('cause')})")
        print(f"{len(started)} executions checked", flush=True)
        assert not problems, "\n".join(problems[:20])
        assert s.stop() == 0
    finally:
        s.cleanup()


if __name__ == "__main__":
    main([test_kill_restart])
