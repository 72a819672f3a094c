"""Activities on sfnd, end to end, with a template of this test's own (an
AWS::StepFunctions::Activity whose !Ref and !GetAtt .Name reach a state
machine through DefinitionSubstitutions):
- the AWS CLI: create-activity (idempotent), describe, list (paged), delete,
  and the errors (InvalidName, InvalidArn, ActivityDoesNotExist);
- a boto3 worker thread (GetActivityTask loop, SendTaskHeartbeat,
  SendTaskSuccess / SendTaskFailure) serving a machine with activity tasks;
  the history's Activity* events and their fields;
- a worker long-polling before the task exists; several waiting workers;
  a worker whose connection closes takes nothing; a poll that ends with no
  task answers {};
- HeartbeatSeconds running out (States.Timeout) caught by Catch; an
  activity that does not exist (ActivityScheduleFailed); a stopped
  execution's task is never handed out;
- SIGKILL of sfnd while a task waits for a worker, and after a worker took
  it: on restart the task is offered again with the same token, and the
  execution succeeds.
"""
import json
import os
import shutil
import socket
import tempfile
import threading
import time

from sfnd_harness import Sfnd, history, check_history, main

ACCOUNT = "123456789012"
REGION = "us-east-1"
ACT = f"arn:aws:states:{REGION}:{ACCOUNT}:activity:"
SM = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/test"
POLL_MS = 1500  # SFN_TEST_ACTIVITY_POLL_MS: AWS holds a poll 60 s

TEMPLATE = """
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Resources:
  WorkActivity:
    Type: AWS::StepFunctions::Activity
    Properties:
      Name: work-activity
  ActMachine:
    Type: AWS::Serverless::StateMachine
    Properties:
      Name: ActMachine
      Definition:
        StartAt: Work
        States:
          Work:
            Type: Task
            Resource: ${WorkArn}
            Parameters:
              activity: ${WorkName}
              n.$: $.n
            TimeoutSeconds: 30
            HeartbeatSeconds: 20
            Catch:
              - ErrorEquals: [Worker.Failed]
                ResultPath: $.caught
                Next: Failed
            Next: Done
          Failed:
            Type: Pass
            End: true
          Done:
            Type: Pass
            End: true
      DefinitionSubstitutions:
        WorkArn: !Ref WorkActivity
        WorkName: !GetAtt WorkActivity.Name
"""


def make_project():
    d = tempfile.mkdtemp(prefix="sfnd-act-")
    with open(os.path.join(d, "template.yaml"), "w") as f:
        f.write(TEMPLATE)
    return d


def start(data=None):
    os.environ["SFN_TEST_ACTIVITY_POLL_MS"] = str(POLL_MS)
    return Sfnd(template=os.path.join(PROJECT, "template.yaml"), data=data)


class Worker(threading.Thread):
    """A boto3 activity worker: polls, heartbeats, answers with answer(input)
    -> ("ok", output) | ("fail", error, cause) | ("hold",) (no answer)."""

    def __init__(self, s, arn, name, answer, count=1):
        super().__init__(daemon=True)
        self.sfn = s.boto()
        self.arn, self.name, self.answer, self.count = arn, name, answer, count
        self.got = []
        self.errors = []
        self.stop = False

    def run(self):
        try:
            while len(self.got) < self.count and not self.stop:
                t = self.sfn.get_activity_task(activityArn=self.arn, workerName=self.name)
                if not t.get("taskToken"):
                    continue
                self.got.append(t)
                a = self.answer(json.loads(t["input"]))
                if a[0] == "hold":
                    continue
                self.sfn.send_task_heartbeat(taskToken=t["taskToken"])
                if a[0] == "ok":
                    self.sfn.send_task_success(taskToken=t["taskToken"], output=json.dumps(a[1]))
                else:
                    self.sfn.send_task_failure(taskToken=t["taskToken"], error=a[1], cause=a[2])
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.errors.append(e)


def events_of(sfn, arn):
    ev = history(sfn, arn)
    assert not check_history(ev), check_history(ev)
    return ev


def test_cli_crud():
    with start() as s:
        # the template's activity exists from the start
        _, d, _ = s.cli("stepfunctions", "describe-activity", "--activity-arn", ACT + "work-activity")
        assert d["name"] == "work-activity" and d["encryptionConfiguration"] == {"type": "AWS_OWNED_KEY"}, d
        _, c1, _ = s.cli("stepfunctions", "create-activity", "--name", "cli-act",
                         "--tags", "key=team,value=a")
        sfn = s.boto()
        c2 = sfn.create_activity(name="cli-act", tags=[{"key": "team", "value": "b"}])
        assert c1["activityArn"] == ACT + "cli-act" == c2["activityArn"], (c1, c2)
        assert abs(c2["creationDate"].timestamp() - c1["creationDate"]) < 0.002, (c1, c2)
        # tags: the first create's kept (the second is idempotent), in the
        # tag store every resource shares
        tags = sfn.list_tags_for_resource(resourceArn=c2["activityArn"])["tags"]
        assert tags == [{"key": "team", "value": "a"}], tags
        sfn.tag_resource(resourceArn=c2["activityArn"], tags=[{"key": "env", "value": "dev"}])
        s.cli("stepfunctions", "untag-resource", "--resource-arn", c2["activityArn"], "--tag-keys", "team")
        _, lt, _ = s.cli("stepfunctions", "list-tags-for-resource", "--resource-arn", c2["activityArn"])
        assert lt["tags"] == [{"key": "env", "value": "dev"}], lt
        for i in range(4):
            sfn.create_activity(name=f"page-{i}")
        seen, kw = [], {}
        while True:
            r = sfn.list_activities(maxResults=2, **kw)
            assert len(r["activities"]) <= 2
            seen += [a["name"] for a in r["activities"]]
            if "nextToken" not in r:
                break
            kw["nextToken"] = r["nextToken"]
        assert sorted(seen) == sorted(["work-activity", "cli-act"] + [f"page-{i}" for i in range(4)]), seen
        _, lst, _ = s.cli("stepfunctions", "list-activities")
        assert len(lst["activities"]) == 6 and set(lst["activities"][0]) == {"activityArn", "name", "creationDate"}
        rc, _, err = s.cli("stepfunctions", "create-activity", "--name", "bad name", check=False)
        assert rc != 0 and "InvalidName" in err, err
        s.cli("stepfunctions", "delete-activity", "--activity-arn", ACT + "cli-act")
        sfn.delete_activity(activityArn=ACT + "cli-act")  # as AWS: deleting it again is fine
        rc, _, err = s.cli("stepfunctions", "describe-activity", "--activity-arn", ACT + "cli-act", check=False)
        assert rc != 0 and "ActivityDoesNotExist" in err, err
        # its tags went with it, and a new activity of that name starts bare
        rc, _, err = s.cli("stepfunctions", "list-tags-for-resource", "--resource-arn", ACT + "cli-act",
                           check=False)
        assert rc != 0 and "ResourceNotFound" in err, err
        sfn.create_activity(name="cli-act")
        assert sfn.list_tags_for_resource(resourceArn=ACT + "cli-act")["tags"] == []
        sfn.delete_activity(activityArn=ACT + "cli-act")
        for bad in ([{"key": "aws:x", "value": "v"}], [{"key": "k" * 129, "value": "v"}],
                    [{"key": f"k{i}", "value": "v"} for i in range(51)]):
            try:
                sfn.create_activity(name="tagged-badly", tags=bad)
                raise AssertionError("accepted %r" % bad[:1])
            except sfn.exceptions.ClientError as e:
                assert e.response["Error"]["Code"] in ("ValidationException", "TooManyTags"), e.response
        refused_arn = ACT + "tagged-badly"
        try:
            sfn.describe_activity(activityArn=refused_arn)
            raise AssertionError("a refused create made the activity")
        except sfn.exceptions.ClientError as e:
            assert e.response["Error"]["Code"] == "ActivityDoesNotExist", e.response

        def refused(exc, call, **kw):
            try:
                call(**kw)
            except sfn.exceptions.ClientError as e:
                assert e.response["Error"]["Code"] == exc, e.response
                return e.response["Error"]["Message"]
            raise AssertionError(f"{call.__name__} {kw} was not refused")
        assert refused("InvalidArn", sfn.describe_activity, activityArn="nope") == \
            "Invalid Arn: 'Invalid ARN prefix: nope'"
        assert refused("ActivityDoesNotExist", sfn.get_activity_task, activityArn=ACT + "cli-act") == \
            f"Activity Does Not Exist: '{ACT}cli-act'"
        assert refused("InvalidName", sfn.create_activity, name="a\x00b") == "Invalid Name: 'a\x00b'"
        # an Express machine may not name an activity
        msg = refused("InvalidDefinition", sfn.create_state_machine, name="x", type="EXPRESS", roleArn=ROLE,
                      definition=json.dumps({"StartAt": "A", "States": {
                          "A": {"Type": "Task", "Resource": ACT + "work-activity", "End": True}}}))
        assert "Express state machine does not support Activity ARN" in msg, msg


def test_worker_success_and_failure():
    with start() as s:
        sfn = s.boto()
        w = Worker(s, ACT + "work-activity", "worker-1",
                   lambda i: ("ok", {"done": i["n"]}) if i["n"] == 1 else ("fail", "Worker.Failed", "no luck"),
                   count=2)
        w.start()  # polls before any task exists
        time.sleep(0.3)
        ok = sfn.start_execution(stateMachineArn=SM + "ActMachine", input='{"n": 1}')["executionArn"]
        d = s.wait_done(ok, timeout=30)
        assert d["status"] == "SUCCEEDED" and json.loads(d["output"]) == {"done": 1}, d
        bad = sfn.start_execution(stateMachineArn=SM + "ActMachine", input='{"n": 2}')["executionArn"]
        d = s.wait_done(bad, timeout=30)
        assert d["status"] == "SUCCEEDED", d
        assert json.loads(d["output"])["caught"] == {"Error": "Worker.Failed", "Cause": "no luck"}, d
        w.join(10)
        assert not w.errors, w.errors
        assert json.loads(w.got[0]["input"]) == {"activity": "work-activity", "n": 1}, w.got[0]
        ev = events_of(sfn, ok)
        types = [e["type"] for e in ev]
        assert types == ["ExecutionStarted", "TaskStateEntered", "ActivityScheduled", "ActivityStarted",
                         "ActivitySucceeded", "TaskStateExited", "PassStateEntered", "PassStateExited",
                         "ExecutionSucceeded"], types
        sch = ev[2]["activityScheduledEventDetails"]
        assert sch["resource"] == ACT + "work-activity" and sch["timeoutInSeconds"] == 30 and \
            sch["heartbeatInSeconds"] == 20 and json.loads(sch["input"]) == {"activity": "work-activity", "n": 1}, sch
        assert ev[3]["activityStartedEventDetails"] == {"workerName": "worker-1"}, ev[3]
        assert json.loads(ev[4]["activitySucceededEventDetails"]["output"]) == {"done": 1}, ev[4]
        ev = events_of(sfn, bad)
        failed = [e for e in ev if e["type"] == "ActivityFailed"]
        assert failed and failed[0]["activityFailedEventDetails"] == {"error": "Worker.Failed", "cause": "no luck"}, ev
        # the token is spent
        try:
            sfn.send_task_success(taskToken=w.got[0]["taskToken"], output="{}")
            raise AssertionError("a spent token was taken")
        except sfn.exceptions.TaskDoesNotExist:
            pass


def test_heartbeat_timeout_caught():
    with start() as s:
        sfn = s.boto()
        sfn.create_activity(name="slow")
        defn = {"StartAt": "Slow", "States": {
            "Slow": {"Type": "Task", "Resource": ACT + "slow", "HeartbeatSeconds": 1, "TimeoutSeconds": 60,
                     "Catch": [{"ErrorEquals": ["States.Timeout"], "Next": "TimedOut"}], "End": True},
            "TimedOut": {"Type": "Wait", "Seconds": 2, "Next": "Caught"},
            "Caught": {"Type": "Pass", "Result": "caught", "End": True}}}
        sm = sfn.create_state_machine(name="Slow", definition=json.dumps(defn), roleArn=ROLE)["stateMachineArn"]
        w = Worker(s, ACT + "slow", "sleepy", lambda i: ("hold",))
        w.start()
        arn = sfn.start_execution(stateMachineArn=sm)["executionArn"]
        deadline = time.time() + 20
        while not any(e["type"] == "WaitStateEntered" for e in history(sfn, arn)):
            assert time.time() < deadline, history(sfn, arn)
            time.sleep(0.1)
        w.join(10)
        # the execution goes on (in its Wait state): the task's token has timed out
        try:
            sfn.send_task_heartbeat(taskToken=w.got[0]["taskToken"])
            raise AssertionError("a timed-out token was taken")
        except sfn.exceptions.TaskTimedOut as e:
            assert e.response["Error"]["Message"] == "Task Timed Out: 'Provided task has timed out'", e.response
        d = s.wait_done(arn, timeout=30)
        assert d["status"] == "SUCCEEDED" and json.loads(d["output"]) == "caught", d
        ev = events_of(sfn, arn)
        to = [e for e in ev if e["type"] == "ActivityTimedOut"]
        assert to and to[0]["activityTimedOutEventDetails"]["error"] == "States.Timeout", ev


def test_retry_schedules_again():
    with start() as s:
        sfn = s.boto()
        sfn.create_activity(name="flaky")
        defn = {"StartAt": "F", "States": {"F": {
            "Type": "Task", "Resource": ACT + "flaky", "End": True,
            "Retry": [{"ErrorEquals": ["Worker.Busy"], "IntervalSeconds": 1, "MaxAttempts": 2}]}}}
        sm = sfn.create_state_machine(name="Flaky", definition=json.dumps(defn), roleArn=ROLE)["stateMachineArn"]
        tries = []

        def answer(i):
            tries.append(i)
            return ("fail", "Worker.Busy", "try again") if len(tries) == 1 else ("ok", {"tries": len(tries)})
        w = Worker(s, ACT + "flaky", "flaky-worker", answer, count=2)
        w.start()
        arn = sfn.start_execution(stateMachineArn=sm, input='{"k": 1}')["executionArn"]
        d = s.wait_done(arn, timeout=30)
        w.join(10)
        assert not w.errors, w.errors
        assert d["status"] == "SUCCEEDED" and json.loads(d["output"]) == {"tries": 2}, d
        assert w.got[0]["taskToken"] != w.got[1]["taskToken"]
        types = [e["type"] for e in events_of(sfn, arn)]
        assert types.count("ActivityScheduled") == 2 and types.count("ActivityStarted") == 2, types


def test_schedule_failed_and_stop():
    with start() as s:
        sfn = s.boto()
        defn = {"StartAt": "Gone", "States": {
            "Gone": {"Type": "Task", "Resource": ACT + "never-created", "End": True}}}
        sm = sfn.create_state_machine(name="Gone", definition=json.dumps(defn), roleArn=ROLE)["stateMachineArn"]
        arn = sfn.start_execution(stateMachineArn=sm)["executionArn"]
        d = s.wait_done(arn, timeout=30)
        assert d["status"] == "FAILED", d
        ev = events_of(sfn, arn)
        sf = [e for e in ev if e["type"] == "ActivityScheduleFailed"]
        assert sf and set(sf[0]["activityScheduleFailedEventDetails"]) == {"error", "cause"}, ev
        # a stopped execution's task is never handed out
        ex = sfn.start_execution(stateMachineArn=SM + "ActMachine", input='{"n": 1}')["executionArn"]
        time.sleep(0.2)
        sfn.stop_execution(executionArn=ex)
        t0 = time.time()
        r = sfn.get_activity_task(activityArn=ACT + "work-activity", workerName="late")
        assert "taskToken" not in r and time.time() - t0 >= POLL_MS / 1000 - 0.2, r


def test_many_workers_and_closed_connection():
    with start() as s:
        sfn = s.boto()
        # a worker that gives up: its connection closes while it waits
        sock = socket.create_connection(("127.0.0.1", s.port))
        body = json.dumps({"activityArn": ACT + "work-activity", "workerName": "quitter"}).encode()
        sock.sendall(b"POST / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/x-amz-json-1.0\r\n"
                     b"X-Amz-Target: AWSStepFunctions.GetActivityTask\r\nContent-Length: %d\r\n\r\n%s"
                     % (s.port, len(body), body))
        time.sleep(0.3)
        sock.close()
        time.sleep(0.3)
        workers = [Worker(s, ACT + "work-activity", f"w{i}", lambda i: ("ok", {"v": i["n"]})) for i in range(3)]
        for w in workers:
            w.start()
        time.sleep(0.3)
        arns = [sfn.start_execution(stateMachineArn=SM + "ActMachine", input=json.dumps({"n": n}))["executionArn"]
                for n in (1, 2)]
        for a in arns:
            d = s.wait_done(a, timeout=30)
            assert d["status"] == "SUCCEEDED", d
        names = set()
        for a in arns:
            st = [e for e in events_of(sfn, a) if e["type"] == "ActivityStarted"]
            names.add(st[0]["activityStartedEventDetails"]["workerName"])
        assert len(names) == 2 and "quitter" not in names, names
        for w in workers:
            w.stop = True
        for w in workers:
            w.join(10)
            assert not w.errors, w.errors
        assert sum(len(w.got) for w in workers) == 2


def test_crash_while_pending():
    data = tempfile.mkdtemp(prefix="sfnd-act-data-")
    try:
        s = start(data).start()
        sfn = s.boto()
        a1 = sfn.start_execution(stateMachineArn=SM + "ActMachine", input='{"n": 1}')["executionArn"]
        a2 = sfn.start_execution(stateMachineArn=SM + "ActMachine", input='{"n": 2}')["executionArn"]
        time.sleep(0.3)
        # a worker takes the first one's task ... and sfnd dies
        t = sfn.get_activity_task(activityArn=ACT + "work-activity", workerName="before")
        s.kill()
        s = start(data).start()
        sfn = s.boto()
        # the token taken before the crash still counts
        sfn.send_task_success(taskToken=t["taskToken"], output=json.dumps({"before": True}))
        # the task that waited for a worker is offered again
        w = Worker(s, ACT + "work-activity", "after", lambda i: ("ok", {"after": i["n"]}))
        w.start()
        w.join(15)
        assert not w.errors and len(w.got) == 1, (w.errors, w.got)
        for a in (a1, a2):
            d = s.wait_done(a, timeout=30)
            assert d["status"] == "SUCCEEDED", d
        outs = sorted(s.boto().describe_execution(executionArn=a)["output"] for a in (a1, a2))
        assert outs == sorted(['{"before":true}', json.dumps({"after": json.loads(w.got[0]["input"])["n"]},
                                                            separators=(",", ":"))]), outs
        for a in (a1, a2):
            starts = [e for e in events_of(sfn, a) if e["type"] == "ActivityStarted"]
            assert len(starts) == 1, starts
        assert s.stop() == 0
    finally:
        shutil.rmtree(data, ignore_errors=True)


PROJECT = make_project()
try:
    main([test_cli_crud, test_worker_success_and_failure, test_heartbeat_timeout_caught,
          test_retry_schedules_again, test_schedule_failed_and_stop, test_many_workers_and_closed_connection, test_crash_while_pending])
finally:
    shutil.rmtree(PROJECT, ignore_errors=True)
