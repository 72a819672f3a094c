"""Tags, logging/tracing/encryption configurations and ListExecutions'
redrive filter end to end: sfnd with a small template of this test's own
(a machine with Logging and Tracing), driven through boto3 and the AWS CLI.

- boto3: tag / untag / list (order, overwrite, idempotent untag), the
  refusals (unknown resource, a version ARN, bad ARN, empty key, the
  reserved aws: prefix, more than 50 tags) with nothing changed; create
  with tags and configurations, describe, update; invalid configurations
  refused with nothing changed; the template's Logging/Tracing described;
- ListExecutions: redriveCount in every item, redriveFilter REDRIVEN /
  NOT_REDRIVEN after a failed execution is redriven, paging with a filter;
- the AWS CLI: tag-resource, list-tags-for-resource, untag-resource,
  describe-state-machine, list-executions --redrive-filter;
- SIGKILL, restart on the same data: every acknowledged tag and
  configuration is there;
- Map Runs of a distributed Map: ListMapRuns / DescribeMapRun while it
  runs (counts, limits) and after a SIGKILL and restart, UpdateMapRun's
  concurrency taking effect, the refusals; the AWS CLI's list-map-runs and
  describe-map-run.
"""
import json
import os
import tempfile

from sfnd_harness import Sfnd, main, REGION, ACCOUNT

TEMPLATE = """
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Resources:
  LoggedMachine:
    Type: AWS::Serverless::StateMachine
    Properties:
      Name: LoggedMachine
      Definition:
        StartAt: P
        States:
          P: {Type: Pass, End: true}
      Logging:
        Level: ERROR
        IncludeExecutionData: true
        Destinations:
          - CloudWatchLogsLogGroup:
              LogGroupArn: arn:aws:logs:us-east-1:123456789012:log-group:saga-logs:*
      Tracing:
        Enabled: true
"""

ROLE = f"arn:aws:iam::{ACCOUNT}:role/r"
PASS = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
FAIL = json.dumps({"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "E", "Cause": "c"}}})
LG = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:g:*"
LOGGING = {"level": "ALL", "includeExecutionData": True,
           "destinations": [{"cloudWatchLogsLogGroup": {"logGroupArn": LG}}]}
CMK = {"type": "CUSTOMER_MANAGED_KMS_KEY", "kmsKeyId": "alias/k", "kmsDataKeyReusePeriodSeconds": 120}


def template_file():
    d = tempfile.mkdtemp(prefix="sfnd-tags-")
    path = os.path.join(d, "template.yaml")
    with open(path, "w") as f:
        f.write(TEMPLATE)
    return path


def err_code(fn, **kw):
    try:
        fn(**kw)
    except Exception as e:  # botocore ClientError
        return e.response["Error"]["Code"]
    raise AssertionError(f"{fn.__name__} {kw} succeeded")


def tags(sfn, arn):
    return sfn.list_tags_for_resource(resourceArn=arn)["tags"]


def check_tags(s, sfn):
    arn = sfn.create_state_machine(name="tagged", definition=PASS, roleArn=ROLE,
                                   tags=[{"key": "a", "value": "1"}, {"key": "b", "value": "2"}])["stateMachineArn"]
    assert tags(sfn, arn) == [{"key": "a", "value": "1"}, {"key": "b", "value": "2"}]
    sfn.tag_resource(resourceArn=arn, tags=[{"key": "b", "value": "x"}, {"key": "c", "value": ""},
                                            {"key": "c", "value": ""}])
    assert tags(sfn, arn) == [{"key": "a", "value": "1"}, {"key": "b", "value": "x"}, {"key": "c", "value": ""}]
    sfn.untag_resource(resourceArn=arn, tagKeys=["a", "a", "nope"])
    sfn.untag_resource(resourceArn=arn, tagKeys=[])
    assert tags(sfn, arn) == [{"key": "b", "value": "x"}, {"key": "c", "value": ""}]
    # refusals change nothing
    missing = arn.replace(":tagged", ":missing")
    assert err_code(sfn.tag_resource, resourceArn=missing, tags=[]) == "ResourceNotFound"
    assert err_code(sfn.list_tags_for_resource, resourceArn=missing) == "ResourceNotFound"
    assert err_code(sfn.untag_resource, resourceArn=arn + ":1", tagKeys=["b"]) == "ResourceNotFound"
    assert err_code(sfn.tag_resource, resourceArn="not-an-arn", tags=[]) == "InvalidArn"
    assert err_code(sfn.tag_resource, resourceArn=arn,
                    tags=[{"key": "ok", "value": "1"}, {"key": "aws:x", "value": "1"}]) == "ValidationException"
    assert err_code(sfn.tag_resource, resourceArn=arn,
                    tags=[{"key": "k" * 129, "value": "1"}]) == "ValidationException"
    assert err_code(sfn.tag_resource, resourceArn=arn,
                    tags=[{"key": "k", "value": "v" * 257}]) == "ValidationException"
    many = [{"key": f"k{i}", "value": "v"} for i in range(49)]
    assert err_code(sfn.tag_resource, resourceArn=arn, tags=many) == "TooManyTags"
    sfn.tag_resource(resourceArn=arn, tags=many[:48])  # 2 + 48 = 50: fine
    assert len(tags(sfn, arn)) == 50
    assert err_code(sfn.tag_resource, resourceArn=arn, tags=[{"key": "one-more", "value": ""}]) == "TooManyTags"
    sfn.untag_resource(resourceArn=arn, tagKeys=[t["key"] for t in many])
    assert tags(sfn, arn) == [{"key": "b", "value": "x"}, {"key": "c", "value": ""}]
    assert err_code(sfn.create_state_machine, name="bad-tags", definition=PASS, roleArn=ROLE,
                    tags=[{"key": "aws:k", "value": "v"}]) == "ValidationException"
    assert err_code(sfn.describe_state_machine, stateMachineArn=arn.replace(":tagged", ":bad-tags")) \
        == "StateMachineDoesNotExist"
    return arn


def check_configs(s, sfn):
    arn = sfn.create_state_machine(name="configured", definition=PASS, roleArn=ROLE, loggingConfiguration=LOGGING,
                                   tracingConfiguration={"enabled": True},
                                   encryptionConfiguration=CMK)["stateMachineArn"]
    d = sfn.describe_state_machine(stateMachineArn=arn)
    assert d["loggingConfiguration"] == LOGGING, d
    assert d["tracingConfiguration"] == {"enabled": True}, d
    assert d["encryptionConfiguration"] == CMK, d
    # invalid: refused, nothing changed (not even the valid members beside)
    for bad, code in [({"loggingConfiguration": {"level": "ALL"}}, "InvalidLoggingConfiguration"),
                      ({"loggingConfiguration": {"level": "ERROR", "destinations": LOGGING["destinations"] * 2}},
                       "InvalidLoggingConfiguration"),
                      ({"tracingConfiguration": {"enabled": False},
                        "encryptionConfiguration": {"type": "CUSTOMER_MANAGED_KMS_KEY"}},
                       "InvalidEncryptionConfiguration"),
                      ({"encryptionConfiguration": {"type": "AWS_OWNED_KEY", "kmsKeyId": "k"}},
                       "InvalidEncryptionConfiguration")]:
        assert err_code(sfn.update_state_machine, stateMachineArn=arn, **bad) == code, bad
        assert err_code(sfn.create_state_machine, name="never", definition=PASS, roleArn=ROLE, **bad) == code
    d2 = sfn.describe_state_machine(stateMachineArn=arn)
    for k in ("loggingConfiguration", "tracingConfiguration", "encryptionConfiguration"):
        assert d2[k] == d[k], (k, d2[k])
    names = [m["name"] for m in sfn.list_state_machines()["stateMachines"]]
    assert "never" not in names, names
    # update: only what is given changes
    sfn.update_state_machine(stateMachineArn=arn, loggingConfiguration={"level": "OFF"})
    d3 = sfn.describe_state_machine(stateMachineArn=arn)
    assert d3["loggingConfiguration"] == {"level": "OFF", "includeExecutionData": False}, d3
    assert d3["tracingConfiguration"] == {"enabled": True}
    sfn.update_state_machine(stateMachineArn=arn, encryptionConfiguration={"type": "AWS_OWNED_KEY"},
                             tracingConfiguration={"enabled": False})
    d4 = sfn.describe_state_machine(stateMachineArn=arn)
    assert d4["encryptionConfiguration"] == {"type": "AWS_OWNED_KEY"}
    assert d4["tracingConfiguration"] == {"enabled": False}
    sfn.update_state_machine(stateMachineArn=arn, loggingConfiguration=LOGGING, encryptionConfiguration=CMK)
    # defaults, and the template's Logging/Tracing
    plain = sfn.create_state_machine(name="plain", definition=PASS, roleArn=ROLE)["stateMachineArn"]
    d = sfn.describe_state_machine(stateMachineArn=plain)
    assert d["loggingConfiguration"] == {"level": "OFF", "includeExecutionData": False}
    assert d["tracingConfiguration"] == {"enabled": False}
    assert d["encryptionConfiguration"] == {"type": "AWS_OWNED_KEY"}
    t = sfn.describe_state_machine(stateMachineArn=f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:LoggedMachine")
    assert t["loggingConfiguration"] == {
        "level": "ERROR", "includeExecutionData": True,
        "destinations": [{"cloudWatchLogsLogGroup": {
            "logGroupArn": "arn:aws:logs:us-east-1:123456789012:log-group:saga-logs:*"}}]}, t
    assert t["tracingConfiguration"] == {"enabled": True}
    return arn


def check_redrive_filter(s, sfn):
    arn = sfn.create_state_machine(name="failing", definition=FAIL, roleArn=ROLE)["stateMachineArn"]
    ex = [sfn.start_execution(stateMachineArn=arn, name=f"e{i}")["executionArn"] for i in range(4)]
    for e in ex:
        assert s.wait_done(e)["status"] == "FAILED"
    for e in ex[:2]:
        sfn.redrive_execution(executionArn=e)
        assert s.wait_done(e)["status"] == "FAILED"
    items = sfn.list_executions(stateMachineArn=arn)["executions"]
    assert len(items) == 4 and all("redriveCount" in i for i in items), items
    counts = {i["name"]: i["redriveCount"] for i in items}
    assert counts == {"e0": 1, "e1": 1, "e2": 0, "e3": 0}, counts
    red = sfn.list_executions(stateMachineArn=arn, redriveFilter="REDRIVEN")["executions"]
    assert sorted(i["name"] for i in red) == ["e0", "e1"], red
    assert all("redriveDate" in i for i in red)
    notred = sfn.list_executions(stateMachineArn=arn, redriveFilter="NOT_REDRIVEN")["executions"]
    assert sorted(i["name"] for i in notred) == ["e2", "e3"], notred
    # pages of one through the filter
    seen, tok = [], None
    while True:
        kw = {"nextToken": tok} if tok else {}
        r = sfn.list_executions(stateMachineArn=arn, redriveFilter="REDRIVEN", maxResults=1, **kw)
        seen += [i["name"] for i in r["executions"]]
        tok = r.get("nextToken")
        if not tok:
            break
    assert sorted(seen) == ["e0", "e1"], seen
    assert err_code(sfn.list_executions, stateMachineArn=arn, redriveFilter="SOMETIMES") == "ValidationException"
    both = sfn.list_executions(stateMachineArn=arn, redriveFilter="REDRIVEN", statusFilter="SUCCEEDED")
    assert both["executions"] == []
    return arn


def check_cli(s, tagged, failing):
    s.cli("stepfunctions", "tag-resource", "--resource-arn", tagged, "--tags", "key=cli,value=yes")
    _, out, _ = s.cli("stepfunctions", "list-tags-for-resource", "--resource-arn", tagged)
    assert {"key": "cli", "value": "yes"} in out["tags"], out
    s.cli("stepfunctions", "untag-resource", "--resource-arn", tagged, "--tag-keys", "cli")
    _, out, _ = s.cli("stepfunctions", "list-tags-for-resource", "--resource-arn", tagged)
    assert {"key": "cli", "value": "yes"} not in out["tags"], out
    rc, _, err = s.cli("stepfunctions", "tag-resource", "--resource-arn", tagged + "x", "--tags",
                       "key=a,value=b", check=False)
    assert rc != 0 and "ResourceNotFound" in err, err
    _, out, _ = s.cli("stepfunctions", "list-executions", "--state-machine-arn", failing,
                      "--redrive-filter", "REDRIVEN")
    assert sorted(e["name"] for e in out["executions"]) == ["e0", "e1"], out
    _, out, _ = s.cli("stepfunctions", "describe-state-machine", "--state-machine-arn", tagged)
    assert out["encryptionConfiguration"] == {"type": "AWS_OWNED_KEY"}, out


def test_all():
    s = Sfnd(template=template_file())
    s.start()
    try:
        sfn = s.boto()
        tagged = check_tags(s, sfn)
        configured = check_configs(s, sfn)
        failing = check_redrive_filter(s, sfn)
        check_cli(s, tagged, failing)
        before = {"tags": tags(sfn, tagged),
                  "conf": sfn.describe_state_machine(stateMachineArn=configured),
                  "execs": sfn.list_executions(stateMachineArn=failing, redriveFilter="REDRIVEN")["executions"]}
        s.kill()  # SIGKILL: what was acknowledged is committed
        s.start()
        sfn = s.boto()
        assert tags(sfn, tagged) == before["tags"]
        after = sfn.describe_state_machine(stateMachineArn=configured)
        for k in ("loggingConfiguration", "tracingConfiguration", "encryptionConfiguration"):
            assert after[k] == before["conf"][k], (k, after[k])
        execs = sfn.list_executions(stateMachineArn=failing, redriveFilter="REDRIVEN")["executions"]
        assert [e["name"] for e in execs] == [e["name"] for e in before["execs"]]
        # deleted: its tags go with it, a new machine of that name has none
        sfn.delete_state_machine(stateMachineArn=tagged)
        assert err_code(sfn.list_tags_for_resource, resourceArn=tagged) == "ResourceNotFound"
        sfn.create_state_machine(name="tagged", definition=PASS, roleArn=ROLE)
        assert tags(sfn, tagged) == []
        assert s.stop() == 0
    finally:
        s.cleanup()


DIST = json.dumps({"StartAt": "M", "States": {"M": {
    "Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 1, "Label": "waits",
    "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                      "StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 1, "End": True}}},
    "End": True}}})


def test_map_runs():
    s = Sfnd(template=template_file(), time_scale=1)
    s.start()
    try:
        sfn = s.boto()
        arn = sfn.create_state_machine(name="dist", definition=DIST, roleArn=ROLE)["stateMachineArn"]
        ex = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"items": list(range(6))}))["executionArn"]
        runs = sfn.list_map_runs(executionArn=ex)["mapRuns"]
        assert len(runs) == 1, runs
        mr = runs[0]["mapRunArn"]
        assert mr.startswith(f"arn:aws:states:{REGION}:{ACCOUNT}:mapRun:dist/waits:"), mr
        assert runs[0]["stateMachineArn"] == f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:dist/waits"
        assert runs[0]["executionArn"] == ex and "stopDate" not in runs[0]
        d = sfn.describe_map_run(mapRunArn=mr)
        assert d["status"] == "RUNNING" and d["maxConcurrency"] == 1, d
        c = d["itemCounts"]
        assert c["total"] == 6 and c["running"] == 1 and c["pending"] + c["succeeded"] == 5, c
        assert d["executionCounts"] == c
        hist = sfn.get_execution_history(executionArn=ex)["events"]
        started = [e for e in hist if e["type"] == "MapRunStarted"]
        assert started and started[0]["mapRunStartedEventDetails"]["mapRunArn"] == mr, started
        # refusals
        assert err_code(sfn.describe_map_run, mapRunArn=mr[:-4] + "ffff") == "ResourceNotFound"
        assert err_code(sfn.describe_map_run, mapRunArn=arn) == "InvalidArn"
        assert err_code(sfn.update_map_run, mapRunArn=mr) == "ValidationException"
        assert err_code(sfn.update_map_run, mapRunArn=mr, toleratedFailurePercentage=101.0) == "ValidationException"
        assert err_code(sfn.list_map_runs, executionArn=ex + "x") == "ExecutionDoesNotExist"
        assert sfn.list_executions(mapRunArn=mr)["executions"] == []
        # SIGKILL mid-run: the record and the run go on after the restart
        s.kill()
        s.start()
        sfn = s.boto()
        d = sfn.describe_map_run(mapRunArn=mr)
        assert d["status"] == "RUNNING" and d["itemCounts"]["total"] == 6, d
        sfn.update_map_run(mapRunArn=mr, maxConcurrency=6, toleratedFailureCount=1)
        d = sfn.describe_map_run(mapRunArn=mr)
        assert d["maxConcurrency"] == 6 and d["toleratedFailureCount"] == 1, d
        assert d["itemCounts"]["pending"] == 0, d  # all started at once now
        assert s.wait_done(ex)["status"] == "SUCCEEDED"
        d = sfn.describe_map_run(mapRunArn=mr)
        assert d["status"] == "SUCCEEDED" and "stopDate" in d, d
        c = d["itemCounts"]
        assert (c["succeeded"], c["running"], c["pending"], c["failed"], c["resultsWritten"]) == (6, 0, 0, 0, 6), c
        _, out, _ = s.cli("stepfunctions", "list-map-runs", "--execution-arn", ex)
        assert out["mapRuns"][0]["mapRunArn"] == mr and "stopDate" in out["mapRuns"][0], out
        _, out, _ = s.cli("stepfunctions", "describe-map-run", "--map-run-arn", mr)
        assert out["status"] == "SUCCEEDED" and out["maxConcurrency"] == 6, out
        assert s.stop() == 0
    finally:
        s.cleanup()


if __name__ == "__main__":
    main([test_all, test_map_runs])
