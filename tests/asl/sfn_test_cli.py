"""sfn_test_cli.py - `sfn test` (src/cli/sfn_test.c) on the trip saga's own
suite (statemachine/tests/): every case passes in milliseconds, the whole
suite well under a second, and the JUnit XML says so; a failing expectation
makes it exit 1 with a diff of what differed, in the report and the XML; an
unknown test case, an unmocked task and unusable files are reported.

usage: sfn_test_cli.py SFN SOURCE_DIR
"""
import json
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

SFN, SRC = sys.argv[1], sys.argv[2]
SUITE = os.path.join(SRC, "statemachine", "tests", "trip_saga.test.json")


def run(*args):
    t0 = time.time()
    p = subprocess.run([SFN, "test", *args], capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr, time.time() - t0


def junit(path):
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites", root.tag
    return {tc.get("name"): tc for tc in root.iter("testcase")}, root


def negative_copy(tmp):
    """The suite with paths made absolute and four expectations broken."""
    with open(SUITE) as f:
        d = json.load(f)
    base = os.path.dirname(SUITE)
    for k in ("template", "mockConfig"):
        d[k] = os.path.normpath(os.path.join(base, d[k]))
    for c in d["cases"]:
        if "inputFile" in c:
            c["inputFile"] = os.path.normpath(os.path.join(base, c["inputFile"]))
    by = {c["name"]: c for c in d["cases"]}
    by["books hotel, flight and car"]["expect"]["outputContains"]["results"]["car"]["status"] = "CANCELLED"
    by["book hotel fails"]["expect"]["path"][3] = "BookFlight"
    by["book car fails"]["testCase"] = "NoSuchCase"
    del by["book flight fails"]["testCase"]  # its tasks are not mocked any more
    path = os.path.join(tmp, "broken.test.json")
    with open(path, "w") as f:
        json.dump(d, f)
    return path


def main():
    tmp = tempfile.mkdtemp(prefix="sfn-test-")
    xml_path = os.path.join(tmp, "junit.xml")

    # the shipped suite: every case passes, fast
    rc, out, err, secs = run(SUITE, "--junit", xml_path)
    print(out, end="")
    assert rc == 0, (rc, out, err)
    cases, root = junit(xml_path)
    assert len(cases) >= 12, len(cases)
    assert root.get("failures") == "0", root.attrib
    assert all(tc.find("failure") is None for tc in cases.values())
    slowest = max(float(tc.get("time")) for tc in cases.values())
    assert slowest < 0.05, f"a case took {slowest * 1000:.1f} ms"
    assert secs < 1.0, f"the suite took {secs:.2f} s"
    assert out.count("PASS") == len(cases), out
    for name in ("book hotel fails", "book flight fails", "book car fails", "cancel car gives up: parked",
                 "cancel car fails 3 times, retried", "books hotel, flight and car"):
        assert name in cases, name

    # broken expectations: exit 1, the diff in the report and the XML
    rc, out, err, _ = run(negative_copy(tmp), "--junit", xml_path)
    print(out, end="")
    assert rc == 1, (rc, out, err)
    assert "FAIL  books hotel, flight and car" in out, out
    assert 'outputContains at $.results.car.status: expected "CANCELLED", got "BOOKED"' in out, out
    assert "path: first difference at [3]: expected BookFlight, got BookHotelFailed" in out, out
    assert "testCase: 'NoSuchCase' is not a test case" in out, out
    assert "sfn test runs no real task: state 'BookHotel'" in out, out
    cases, root = junit(xml_path)
    assert root.get("failures") == "4", root.attrib
    f = cases["book hotel fails"].find("failure")
    assert f is not None and "expected BookFlight, got BookHotelFailed" in f.text, f
    assert cases["cancel car gives up: parked"].find("failure") is None

    # files it cannot use: exit 2 with the reason
    bad = os.path.join(tmp, "bad.test.json")
    with open(bad, "w") as f:
        json.dump({"definition": "nope.asl.json", "cases": []}, f)
    rc, out, err, _ = run(bad)
    assert rc == 2 and "nope.asl.json: cannot read" in err, (rc, err)
    with open(bad, "w") as f:
        json.dump({"definition": os.path.join(SRC, "statemachine", "trip_saga.asl.json"),
                   "mockConfig": os.path.join(tmp, "mocks.json"), "cases": []}, f)
    with open(os.path.join(tmp, "mocks.json"), "w") as f:
        f.write('{"StateMachines": {"trip_saga": {"TestCases": {"T": {"BookHotel": "Missing"}}}}}')
    rc, out, err, _ = run(bad)
    assert rc == 2 and "$.StateMachines.trip_saga.TestCases.T.BookHotel: mocked response \"Missing\"" in err, err
    rc, out, err, _ = run()
    assert rc == 2 and "usage" in err, (rc, err)
    print("ok sfn test")


main()
