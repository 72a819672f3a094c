"""DynamoDB for the saga's functions, served by moto with SigV4 and IAM checks on.

MotoStore starts moto's server on 127.0.0.1, creates what a deployment would
(the bookings table with its TTL, an IAM role for the functions allowed
dynamodb:UpdateItem on that table only, a role without it, and a user for
the checks), then turns moto's request authentication on for every request
that follows (its reset-auth endpoint, the switch behind
INITIAL_NO_AUTH_ACTION_COUNT): from then on a request must carry a valid
signature from known credentials, and the action must be allowed.

The functions get the temporary credentials of an assumed role (an access
key, a secret and a session token, as Lambda gives them) through sfnd's
--env-vars file, with SFN_LOCAL_STORE_DIR empty so that they use DynamoDB.

moto is installed wherever these tests run (scripts/deps.sh): if it cannot
start, this raises instead of skipping.
"""
import json, os, socket, subprocess, sys, tempfile, time, urllib.request

REGION = "us-east-1"
TABLE = "BookingsTable"  # the template's table, as sfnd names it locally


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class MotoStore:
    def __init__(self):
        import boto3
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.tmp = tempfile.mkdtemp(prefix="saga-moto-")
        log = open(os.path.join(self.tmp, "moto.log"), "w")
        env = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT="1000000")
        # One request at a time: DynamoDB applies a conditional write to an
        # item atomically, moto's threaded server does not (two conditional
        # UpdateItems on one item could both pass their condition), and the
        # ownership rules are exactly such races
        serve = ("import sys; from werkzeug.serving import run_simple; "
                 "from moto.server import DomainDispatcherApplication, create_backend_app; "
                 "run_simple('127.0.0.1', int(sys.argv[1]), "
                 "DomainDispatcherApplication(create_backend_app), threaded=False)")
        self.proc = subprocess.Popen([sys.executable, "-c", serve, str(self.port)],
                                     stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        deadline = time.time() + 30
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"moto's server exited with {self.proc.returncode}: see {log.name} "
                                   "(install it with: pip install 'moto[server]')")
            try:
                urllib.request.urlopen(self.url + "/moto-api/", timeout=1).read()
                break
            except Exception:
                if time.time() > deadline:
                    raise RuntimeError("moto's server did not start in 30 s")
                time.sleep(0.1)
        anon = dict(endpoint_url=self.url, region_name=REGION, aws_access_key_id="setup",
                    aws_secret_access_key="setup")
        ddb = boto3.client("dynamodb", **anon)
        ddb.create_table(TableName=TABLE, BillingMode="PAY_PER_REQUEST",
                         AttributeDefinitions=[{"AttributeName": "tripId", "AttributeType": "S"},
                                               {"AttributeName": "kind", "AttributeType": "S"}],
                         KeySchema=[{"AttributeName": "tripId", "KeyType": "HASH"},
                                    {"AttributeName": "kind", "KeyType": "RANGE"}])
        ddb.update_time_to_live(TableName=TABLE,
                                TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiresAt"})
        iam = boto3.client("iam", **anon)
        trust = json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:user/verifier"},
             "Action": "sts:AssumeRole"}]})
        roles = {"fn": ["dynamodb:UpdateItem"], "noperm": ["dynamodb:GetItem"]}
        self.role_arns = {}
        for name, actions in roles.items():
            r = iam.create_role(RoleName=f"saga-{name}", AssumeRolePolicyDocument=trust)
            # Resource "*": moto authorises DynamoDB actions against "*", not
            # the table's ARN (the template scopes it to the table on AWS)
            iam.put_role_policy(RoleName=f"saga-{name}", PolicyName="table", PolicyDocument=json.dumps(
                {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}))
            self.role_arns[name] = r["Role"]["Arn"]
        iam.create_user(UserName="verifier")
        pol = iam.create_policy(PolicyName="verifier-all", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
        iam.attach_user_policy(UserName="verifier", PolicyArn=pol["Policy"]["Arn"])
        k = iam.create_access_key(UserName="verifier")["AccessKey"]
        self.admin = dict(endpoint_url=self.url, region_name=REGION, aws_access_key_id=k["AccessKeyId"],
                          aws_secret_access_key=k["SecretAccessKey"])
        # from here on, every request is authenticated and authorised
        req = urllib.request.Request(self.url + "/moto-api/reset-auth", data=b"0", method="POST",
                                     headers={"Content-Type": "text/plain"})
        urllib.request.urlopen(req, timeout=5).read()
        self.ddb = boto3.client("dynamodb", **self.admin)
        self.sts = boto3.client("sts", **self.admin)
        self.creds = self.assume("fn")
        self.env_file = self.write_env(self.creds)

    def assume(self, role):
        c = self.sts.assume_role(RoleArn=self.role_arns[role], RoleSessionName="saga-functions")["Credentials"]
        assert c["AccessKeyId"].startswith("ASIA") and c["SessionToken"], c
        return c

    def write_env(self, creds, name="env.json", secret=None):
        """An sfnd --env-vars file giving every function these credentials."""
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            json.dump({"Parameters": {
                "SFN_LOCAL_STORE_DIR": "",
                "AWS_ENDPOINT_URL_DYNAMODB": self.url,
                "AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
                "AWS_SECRET_ACCESS_KEY": secret or creds["SecretAccessKey"],
                "AWS_SESSION_TOKEN": creds["SessionToken"]}}, f)
        return path

    def bookings(self):
        """{tripId: {kind: (status, owner)}}, read with the verifier's own signed requests."""
        out, kw = {}, {}
        while True:
            page = self.ddb.scan(TableName=TABLE, ConsistentRead=True, **kw)
            for it in page["Items"]:
                st = it.get("status", {}).get("S")
                if st:
                    out.setdefault(it["tripId"]["S"], {})[it["kind"]["S"]] = (st, it.get("owner", {}).get("S"))
            if "LastEvaluatedKey" not in page:
                return out
            kw = {"ExclusiveStartKey": page["LastEvaluatedKey"]}

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
