#!/usr/bin/env python3
"""`sfn run --template`: the template's state machine with the real bootstraps.

Each event file runs in its own store (the seed's two events share a tripId);
after each run the booking store must satisfy the saga invariant:
SUCCEEDED -> all three bookings BOOKED; FAILED -> none BOOKED.
Usage: sfn_run_saga.py SFN_BINARY PROJECT_DIR
"""
import json, os, sqlite3, subprocess, sys, tempfile

EXPECT = {
    "success.json": ("SUCCEEDED", None),
    "fail-book-flight.json": ("FAILED", "TripBookingFailed"),
    "fail-book-hotel.json": ("FAILED", "TripBookingFailed"),
    "fail-book-car.json": ("FAILED", "TripBookingFailed"),
    "cancel-retry.json": ("FAILED", "TripBookingFailed"),
}


def bookings(store_dir, trip):
    rows = {}
    for f in os.listdir(store_dir):
        if not f.endswith(".sqlite"):
            continue
        db = sqlite3.connect(os.path.join(store_dir, f))
        cols = [r[1] for r in db.execute("PRAGMA table_info(bookings)")]
        for r in db.execute("SELECT * FROM bookings"):
            row = dict(zip(cols, r))
            if row.get("trip_id", row.get("tripId")) == trip:
                rows[row["kind"]] = row["status"]
        db.close()
    return rows


def main():
    sfn, root = sys.argv[1], sys.argv[2]
    passed = failed = 0
    for ev, (want_status, want_error) in EXPECT.items():
        path = os.path.join(root, "events", ev)
        trip = json.load(open(path))["tripId"]
        with tempfile.TemporaryDirectory() as data:
            p = subprocess.run([sfn, "run", os.path.join(root, "statemachine/trip_saga.asl.json"),
                                "--template", os.path.join(root, "template.yaml"), "--input", path, "--history"],
                               capture_output=True, text=True, env={"SFN_DATA": data, "PATH": os.environ["PATH"]},
                               timeout=120)
            r = json.loads(p.stdout)
            b = bookings(os.path.join(data, "tables"), trip)
            ok = r["status"] == want_status and r["error"] == want_error
            if want_status == "SUCCEEDED":
                ok = ok and b == {"HOTEL": "BOOKED", "FLIGHT": "BOOKED", "CAR": "BOOKED"}
            else:
                ok = ok and "BOOKED" not in b.values() and len(b) > 0
            types = [e["type"] for e in r["history"]]
            if ev == "cancel-retry.json":
                # CancelHotel failed twice before it succeeded: three attempts
                ok = ok and types.count("LambdaFunctionScheduled") == 1 + 1 + 1 + 3  # hotel, flight, cancel flight, cancel hotel x3
            print(("ok  " if ok else "FAIL"), ev, r["status"], r["error"], b)
            if not ok:
                print(p.stderr[-2000:])
            passed += ok
            failed += not ok
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
