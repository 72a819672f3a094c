"""Versions, aliases, revisions and DELETING through boto3 and the AWS CLI
(issue 14): publish with a description, start by version and by alias, a
two-version alias's split, DescribeExecution's version and alias ARNs,
DescribeStateMachineForExecution after an update, a version an alias
routes to cannot be deleted, a machine with a running (Wait) execution is
DELETING until it ends, and everything is still there after sfnd is
killed (SIGKILL) and restarted on the same data directory."""
import json
import time

from botocore.exceptions import ClientError

from sfnd_harness import Sfnd, main

ROLE = "arn:aws:iam::123456789012:role/test"
ROLE2 = "arn:aws:iam::123456789012:role/other"
SM = "arn:aws:states:us-east-1:123456789012:stateMachine:"


def pass_def(tag):
    return json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": {"v": tag},
                                                        "End": True}}})


def wait_def(seconds):
    return json.dumps({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": seconds,
                                                        "End": True}}})


def err_code(fn, **kw):
    try:
        fn(**kw)
    except ClientError as e:
        return e.response["Error"]["Code"]
    raise AssertionError(f"{fn.__name__} succeeded")


def done(sfn, arn, timeout=20):
    t = time.time() + timeout
    while time.time() < t:
        d = sfn.describe_execution(executionArn=arn)
        if d["status"] != "RUNNING":
            return d
        time.sleep(0.05)
    raise AssertionError(f"{arn} still running")


def scenario_versions(s):
    """Publish, revisions, start by version and alias; returns what the
    restart check looks at again."""
    sfn = s.boto()
    r = sfn.create_state_machine(name="ver", definition=pass_def(1), roleArn=ROLE, publish=True,
                                 versionDescription="first")
    v1 = r["stateMachineVersionArn"]
    assert v1 == SM + "ver:1", r
    d = sfn.describe_state_machine(stateMachineArn=v1)
    assert d["stateMachineArn"] == v1 and d["description"] == "first", d
    assert "revisionId" not in d, d  # AWS: null until the first update
    assert "revisionId" not in sfn.describe_state_machine(stateMachineArn=SM + "ver")
    # a role-only update is a revision; revisionId is a UUID, new each time
    u1 = sfn.update_state_machine(stateMachineArn=SM + "ver", roleArn=ROLE2)
    assert len(u1["revisionId"]) == 36 and u1["revisionId"].count("-") == 4, u1
    u2 = sfn.update_state_machine(stateMachineArn=SM + "ver", definition=pass_def(2), roleArn=ROLE)
    assert u2["revisionId"] != u1["revisionId"]
    assert sfn.describe_state_machine(stateMachineArn=SM + "ver")["revisionId"] == u2["revisionId"]
    # the revisionId precondition
    assert err_code(sfn.publish_state_machine_version, stateMachineArn=SM + "ver",
                    revisionId=u1["revisionId"]) == "ConflictException"
    p2 = sfn.publish_state_machine_version(stateMachineArn=SM + "ver", revisionId=u2["revisionId"],
                                           description="second")
    v2 = p2["stateMachineVersionArn"]
    assert v2 == SM + "ver:2", p2
    # publishing the same revision again gives the same version
    assert sfn.publish_state_machine_version(
        stateMachineArn=SM + "ver")["stateMachineVersionArn"] == v2
    vs = sfn.list_state_machine_versions(stateMachineArn=SM + "ver")["stateMachineVersions"]
    assert [v["stateMachineVersionArn"] for v in vs] == [v2, v1], vs
    page = sfn.list_state_machine_versions(stateMachineArn=SM + "ver", maxResults=1)
    assert page["stateMachineVersions"][0]["stateMachineVersionArn"] == v2 and page["nextToken"]
    page = sfn.list_state_machine_versions(stateMachineArn=SM + "ver", maxResults=1,
                                           nextToken=page["nextToken"])
    assert page["stateMachineVersions"][0]["stateMachineVersionArn"] == v1
    assert "nextToken" not in page
    # start by version: the version's definition runs
    x1 = sfn.start_execution(stateMachineArn=v1)["executionArn"]
    d1 = done(sfn, x1)
    assert json.loads(d1["output"]) == {"v": 1} and d1["stateMachineVersionArn"] == v1, d1
    assert "stateMachineAliasArn" not in d1 and d1["stateMachineArn"] == SM + "ver"
    # an alias routing 100% to v2
    a = sfn.create_state_machine_alias(name="prod", description="live",
                                       routingConfiguration=[{"stateMachineVersionArn": v2,
                                                              "weight": 100}])
    alias = a["stateMachineAliasArn"]
    assert alias == SM + "ver:prod"
    x2 = sfn.start_execution(stateMachineArn=alias)["executionArn"]
    d2 = done(sfn, x2)
    assert json.loads(d2["output"]) == {"v": 2}
    assert d2["stateMachineVersionArn"] == v2 and d2["stateMachineAliasArn"] == alias, d2
    # ListExecutions of the version lists its executions, with the ARNs
    lv = sfn.list_executions(stateMachineArn=v1)["executions"]
    assert [e["executionArn"] for e in lv] == [x1], lv
    la = sfn.list_executions(stateMachineArn=alias)["executions"]
    assert [e["executionArn"] for e in la] == [x2] and la[0]["stateMachineAliasArn"] == alias
    # DescribeStateMachineForExecution: what the execution ran with, after an update
    sfn.update_state_machine(stateMachineArn=SM + "ver", definition=pass_def(3))
    f1 = sfn.describe_state_machine_for_execution(executionArn=x1)
    assert json.loads(f1["definition"])["States"]["P"]["Result"] == {"v": 1}
    assert "revisionId" not in f1 and f1["roleArn"] == ROLE, f1
    f2 = sfn.describe_state_machine_for_execution(executionArn=x2)
    assert json.loads(f2["definition"])["States"]["P"]["Result"] == {"v": 2}
    assert f2["revisionId"] == u2["revisionId"], f2
    # a version an alias routes to cannot be deleted
    assert err_code(sfn.delete_state_machine_version,
                    stateMachineVersionArn=v2) == "ConflictException"
    # alias validation (AWS's errors)
    assert err_code(sfn.create_state_machine_alias, name="123",
                    routingConfiguration=[{"stateMachineVersionArn": v2, "weight": 100}]
                    ) == "ValidationException"
    assert err_code(sfn.create_state_machine_alias, name="half",
                    routingConfiguration=[{"stateMachineVersionArn": v1, "weight": 70},
                                          {"stateMachineVersionArn": v2, "weight": 29}]
                    ) == "ValidationException"
    assert err_code(sfn.create_state_machine_alias, name="prod",
                    routingConfiguration=[{"stateMachineVersionArn": v1, "weight": 100}]
                    ) == "ConflictException"
    return {"v1": v1, "v2": v2, "alias": alias, "x1": x1, "x2": x2, "rev": u2["revisionId"]}


def split_check(s, v1, v2, alias):
    """A 30/70 alias over 200 starts lands within a reasonable band."""
    sfn = s.boto()
    sfn.update_state_machine_alias(stateMachineAliasArn=alias,
                                   routingConfiguration=[{"stateMachineVersionArn": v1,
                                                          "weight": 30},
                                                         {"stateMachineVersionArn": v2,
                                                          "weight": 70}])
    desc = sfn.describe_state_machine_alias(stateMachineAliasArn=alias)
    assert len(desc["routingConfiguration"]) == 2 and desc["description"] == "live", desc
    got = {v1: 0, v2: 0}
    arns = [sfn.start_execution(stateMachineArn=alias)["executionArn"] for _ in range(200)]
    for arn in arns:
        got[done(sfn, arn)["stateMachineVersionArn"]] += 1
    # 60 expected for v1; sd ~6.5: 30..90 is beyond 4 sd
    assert 30 <= got[v1] <= 90 and got[v1] + got[v2] == 200, got
    # back to v2 alone, so v1 can be deleted (and stays deleted)
    sfn.update_state_machine_alias(stateMachineAliasArn=alias,
                                   routingConfiguration=[{"stateMachineVersionArn": v2,
                                                          "weight": 100}])
    sfn.delete_state_machine_version(stateMachineVersionArn=v1)
    assert err_code(sfn.start_execution, stateMachineArn=v1) == "StateMachineDoesNotExist"
    # numbers are never reused: the next version is 3
    sfn.update_state_machine(stateMachineArn=SM + "ver", definition=pass_def(4), publish=True)
    vs = sfn.list_state_machine_versions(stateMachineArn=SM + "ver")["stateMachineVersions"]
    assert [v["stateMachineVersionArn"] for v in vs] == [SM + "ver:3", v2], vs
    return got


def cli_check(s, v2, alias):
    """The AWS CLI sees the same."""
    _, out, _ = s.cli("stepfunctions", "list-state-machine-aliases", "--state-machine-arn",
                      SM + "ver")
    assert [a["stateMachineAliasArn"] for a in out["stateMachineAliases"]] == [alias], out
    _, out, _ = s.cli("stepfunctions", "describe-state-machine", "--state-machine-arn", v2)
    assert out["description"] == "second" and out["stateMachineArn"] == v2, out
    _, out, _ = s.cli("stepfunctions", "start-execution", "--state-machine-arn", alias)
    d = done(s.boto(), out["executionArn"])
    assert d["stateMachineAliasArn"] == alias


def express_check(s):
    """StartSyncExecution of an EXPRESS machine's version and alias runs
    that version."""
    sfn = s.boto()
    r = sfn.create_state_machine(name="fast", definition=pass_def("e1"), roleArn=ROLE,
                                 type="EXPRESS", publish=True)
    v1 = r["stateMachineVersionArn"]
    sfn.update_state_machine(stateMachineArn=SM + "fast", definition=pass_def("e2"))
    out = sfn.start_sync_execution(stateMachineArn=v1)
    assert out["status"] == "SUCCEEDED" and json.loads(out["output"]) == {"v": "e1"}, out
    alias = sfn.create_state_machine_alias(
        name="live", routingConfiguration=[{"stateMachineVersionArn": v1, "weight": 100}]
    )["stateMachineAliasArn"]
    out = sfn.start_sync_execution(stateMachineArn=alias)
    assert json.loads(out["output"]) == {"v": "e1"}, out
    out = sfn.start_sync_execution(stateMachineArn=SM + "fast")
    assert json.loads(out["output"]) == {"v": "e2"}, out


def deleting_check(s):
    """DeleteStateMachine with a running Wait execution: DELETING, new starts
    refused; returns the execution ARN (still running)."""
    sfn = s.boto()
    sfn.create_state_machine(name="slow", definition=wait_def(3), roleArn=ROLE)
    x = sfn.start_execution(stateMachineArn=SM + "slow")["executionArn"]
    sfn.delete_state_machine(stateMachineArn=SM + "slow")
    assert sfn.describe_state_machine(stateMachineArn=SM + "slow")["status"] == "DELETING"
    assert err_code(sfn.start_execution, stateMachineArn=SM + "slow") == "StateMachineDeleting"
    # a machine with nothing running goes at once
    sfn.create_state_machine(name="quick", definition=pass_def(0), roleArn=ROLE)
    sfn.delete_state_machine(stateMachineArn=SM + "quick")
    assert err_code(sfn.describe_state_machine,
                    stateMachineArn=SM + "quick") == "StateMachineDoesNotExist"
    return x


def test_versions_aliases_deleting_restart():
    s = Sfnd(time_scale=1)
    try:
        s.start()
        k = scenario_versions(s)
        got = split_check(s, k["v1"], k["v2"], k["alias"])
        print(f"alias split over 200 starts (30/70): {got[k['v1']]}/{got[k['v2']]}", flush=True)
        cli_check(s, k["v2"], k["alias"])
        express_check(s)
        slow_exec = deleting_check(s)
        s.kill()  # SIGKILL: all of it was acknowledged, so committed
        s.start()
        sfn = s.boto()
        assert sfn.describe_state_machine(stateMachineArn=SM + "slow")["status"] == "DELETING"
        d = sfn.describe_state_machine(stateMachineArn=k["v2"])
        assert d["description"] == "second" and d["revisionId"] == k["rev"], d
        a = sfn.describe_state_machine_alias(stateMachineAliasArn=k["alias"])
        assert a["routingConfiguration"] == [{"stateMachineVersionArn": k["v2"], "weight": 100}]
        x = sfn.describe_execution(executionArn=k["x2"])
        assert x["stateMachineAliasArn"] == k["alias"] and x["stateMachineVersionArn"] == k["v2"]
        f = sfn.describe_state_machine_for_execution(executionArn=k["x2"])
        assert f["revisionId"] == k["rev"]
        # the Wait execution resumed; when it ends the machine is gone
        assert done(sfn, slow_exec)["status"] == "SUCCEEDED"
        assert err_code(sfn.describe_state_machine,
                        stateMachineArn=SM + "slow") == "StateMachineDoesNotExist"
        s.kill()
        s.start()
        sfn = s.boto()
        assert err_code(sfn.describe_state_machine,
                        stateMachineArn=SM + "slow") == "StateMachineDoesNotExist"
        assert sfn.describe_state_machine_alias(stateMachineAliasArn=k["alias"])["name"] == "prod"
    finally:
        s.cleanup()


if __name__ == "__main__":
    main([test_versions_aliases_deleting_restart])
