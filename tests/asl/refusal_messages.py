#!/usr/bin/env python3
"""How many of AWS's recorded refusal messages sfnd words the same: each
definition of validation.jsonl through CreateStateMachine (its recorded cause,
without boto's "An error occurred ..." prefix), and api_cases.jsonl's
CreateStateMachine InvalidDefinition messages and failing
ValidateStateMachineDefinition diagnostics. Prints the ones that differ.

Usage: refusal_messages.py ENDPOINT [SHARED_DIR]   (sfnd on an empty --data)

validation.jsonl stores each definition re-serialised (keys sorted), so the
causes that quote the definition's text (Map Label refusals) cannot match
from it; api_cases.jsonl keeps the text the test sent.
"""
import json, os, sys, re, boto3, botocore
ep = sys.argv[1]
shared = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared")
c = boto3.client('stepfunctions', endpoint_url=ep, region_name='us-east-1', aws_access_key_id='x',
                 aws_secret_access_key='x', config=botocore.config.Config(retries={'max_attempts': 0}))
role = 'arn:aws:iam::111111111111:role/r'
ok = tot = 0
n = 0
def norm(s):
    s = re.sub(r"^An error occurred \(\w+\) when calling the \w+ operation: ", "", s or "")
    return s
def create(defn, typ, logging=None):
    global n
    n += 1
    kw = dict(name=f"v{n}", definition=defn, roleArn=role, type=typ or 'STANDARD')
    if logging: kw['loggingConfiguration'] = logging
    try:
        c.create_state_machine(**kw)
        return None, None
    except botocore.exceptions.ClientError as e:
        return e.response['Error']['Code'], e.response['Error']['Message']
fails = []
for l in open(os.path.join(shared, 'conformance', 'validation.jsonl')):
    v = json.loads(l)
    exp = v['expected']
    if exp.get('error') in ('StateMachineAlreadyExists', 'InvalidLoggingConfiguration'):
        continue
    typ, msg = create(json.dumps(v['definition']), v.get('state_machine_type'))
    tot += 1
    good = msg == norm(exp['cause'])
    ok += good
    if not good: fails.append((v['id'], norm(exp['cause'])[:200], (msg or 'ACCEPTED')[:200]))
for l in open(os.path.join(shared, 'conformance', 'api_cases.jsonl')):
    v = json.loads(l)
    for k in v['calls']:
        e = k.get('expect') or {}
        if k['op'] == 'create_state_machine' and 'error' in e and e['error']['type'] == 'InvalidDefinition':
            p = k['params']
            typ, msg = create(p['definition'], p.get('type'))
            tot += 1; good = msg == e['error']['message']; ok += good
            if not good: fails.append((v['id'], e['error']['message'][:200], (msg or 'ACCEPTED')[:200]))
        if k['op'] == 'validate_state_machine_definition' and e.get('response', {}).get('result') == 'FAIL':
            p = k['params']
            try:
                r = c.validate_state_machine_definition(**p)
                got = [(d.get('code'), d.get('message'), d.get('location')) for d in r['diagnostics']]
            except botocore.exceptions.ClientError as ex:
                got = ex.response['Error']['Message']
            want = [(d.get('code'), d.get('message'), d.get('location')) for d in e['response']['diagnostics']]
            tot += 1; good = got == want; ok += good
            if not good: fails.append((v['id'], str(want), str(got)))
for f in fails: print('  ', *f, sep='\n    ')
print(f"refusal messages equal: {ok}/{tot}")
