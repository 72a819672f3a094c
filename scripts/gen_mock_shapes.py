#!/usr/bin/env python3
"""gen_mock_shapes.py - the response shapes TestState checks a mocked result
against (fieldValidationMode STRICT / PRESENT), from botocore's service
models, written as src/core/asl_test_shapes.c.

AWS validates a mocked Task result against the API model of the
integration's response. The engine keeps a compact JSON of the output
shapes of the integrations listed below (the optimized ones and a set of
common aws-sdk ones), reachable shapes only; a resource not listed is not
checked. Member names are as Step Functions returns them (first letter
upper case). Regenerate after changing the list:

    python3 scripts/gen_mock_shapes.py > src/core/asl_test_shapes.c
"""
import json
import sys

import botocore.session

# Step Functions resource "<service>:<action>" -> (botocore service, operation)
OPTIMIZED = {
    "lambda:invoke": ("lambda", "Invoke"),
    "states:startExecution": ("stepfunctions", "StartExecution"),
    "states:startExecution.sync": ("stepfunctions", "DescribeExecution"),
    "states:startExecution.sync:2": ("stepfunctions", "DescribeExecution"),
    "events:putEvents": ("events", "PutEvents"),
    "sns:publish": ("sns", "Publish"),
    "sqs:sendMessage": ("sqs", "SendMessage"),
    "dynamodb:getItem": ("dynamodb", "GetItem"),
    "dynamodb:putItem": ("dynamodb", "PutItem"),
    "dynamodb:updateItem": ("dynamodb", "UpdateItem"),
    "dynamodb:deleteItem": ("dynamodb", "DeleteItem"),
    "batch:submitJob": ("batch", "SubmitJob"),
    "glue:startJobRun": ("glue", "StartJobRun"),
    "athena:startQueryExecution": ("athena", "StartQueryExecution"),
    "codebuild:startBuild": ("codebuild", "StartBuild"),
}

# aws-sdk:<service>:<action>: the SDK service name -> botocore's, and the actions kept
SDK = {
    "s3": ("s3", ["GetObject", "PutObject", "HeadObject", "DeleteObject", "CopyObject", "ListObjectsV2",
                  "ListBuckets"]),
    "kms": ("kms", ["Encrypt", "Decrypt", "GenerateDataKey", "Sign", "Verify"]),
    "lambda": ("lambda", ["GetFunction", "Invoke", "ListFunctions", "GetFunctionConfiguration"]),
    "dynamodb": ("dynamodb", ["GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan",
                              "BatchGetItem", "BatchWriteItem", "TransactWriteItems"]),
    "sqs": ("sqs", ["SendMessage", "ReceiveMessage", "DeleteMessage", "GetQueueUrl", "SendMessageBatch"]),
    "sns": ("sns", ["Publish", "PublishBatch"]),
    "sfn": ("stepfunctions", ["StartExecution", "DescribeExecution", "StartSyncExecution", "SendTaskSuccess",
                              "SendTaskFailure", "ListExecutions"]),
    "eventbridge": ("events", ["PutEvents"]),
    "secretsmanager": ("secretsmanager", ["GetSecretValue", "PutSecretValue"]),
    "ssm": ("ssm", ["GetParameter", "GetParameters", "PutParameter"]),
    "sts": ("sts", ["GetCallerIdentity", "AssumeRole"]),
    "ses": ("ses", ["SendEmail"]),
    "sesv2": ("sesv2", ["SendEmail"]),
    "cloudwatch": ("cloudwatch", ["PutMetricData"]),
}

# fields Step Functions returns as JSON rather than as the model's type
ANY = {("lambda", "InvocationResponse", "Payload"), ("stepfunctions", "DescribeExecutionOutput", "Output"),
       ("stepfunctions", "DescribeExecutionOutput", "Input")}

session = botocore.session.get_session()
shapes = {}


def cap(name):
    return name[:1].upper() + name[1:]


def emit(svc, shape, owner=None, member=None):
    key = f"{svc}.{shape.name}"
    if owner is not None and (svc, owner, member) in ANY:
        key = "any"
        shapes.setdefault("any", {"t": "any"})
        return key
    if key in shapes:
        return key
    t = shape.type_name
    d = {}
    shapes[key] = d
    md = shape.metadata
    if t == "structure":
        d["t"] = "s"
        d["m"] = {cap(k): emit(svc, v, shape.name, cap(k)) for k, v in shape.members.items()}
        req = [cap(r) for r in md.get("required", [])]
        if req:
            d["r"] = req
    elif t == "list":
        d["t"] = "l"
        d["m"] = emit(svc, shape.member)
    elif t == "map":
        d["t"] = "m"
        d["v"] = emit(svc, shape.value)
    elif t == "string":
        d["t"] = "str"
        if shape.enum:
            d["e"] = list(shape.enum)
    elif t in ("integer", "long"):
        d["t"] = "int"
    elif t in ("float", "double"):
        d["t"] = "num"
    elif t == "boolean":
        d["t"] = "bool"
    elif t == "timestamp":
        d["t"] = "ts"
    elif t == "blob":
        d["t"] = "blob"
    else:
        d["t"] = "any"
    for k in ("min", "max"):
        if k in md and t in ("string", "integer", "long", "float", "double", "blob", "list", "map"):
            d[k] = md[k]
    return key


def main():
    ops = {}
    models = {}

    def model(svc):
        if svc not in models:
            models[svc] = session.get_service_model(svc)
        return models[svc]

    for res, (svc, op) in OPTIMIZED.items():
        ops[res] = emit(svc, model(svc).operation_model(op).output_shape)
    for sdk, (svc, acts) in SDK.items():
        for op in acts:
            out = model(svc).operation_model(op).output_shape
            if out is not None:
                ops[f"aws-sdk:{sdk}:{op[:1].lower()}{op[1:]}"] = emit(svc, out)
    text = json.dumps({"ops": ops, "shapes": shapes}, separators=(",", ":"), sort_keys=True)
    w = sys.stdout.write
    w("/*\n * asl_test_shapes.c - generated by scripts/gen_mock_shapes.py from botocore "
      f"{botocore.__version__}:\n"
      " * the response shapes of the integrations a TestState mock is checked\n"
      " * against (asl_test_mock.c). Data only; do not edit.\n */\n")
    w('#include "asl_test_int.h"\n\nconst char asl__mock_shapes[] =\n')
    step = 1000
    for i in range(0, len(text), step):
        chunk = text[i:i + step].replace("\\", "\\\\").replace('"', '\\"')
        w(f'    "{chunk}"\n')
    w("    ;\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
