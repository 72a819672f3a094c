"""A Python handler: answers with what Lambda gave it."""
import json
import logging
import os

logger = logging.getLogger()
logger.setLevel(logging.INFO)


class GreetingFailed(Exception):
    pass


def lambda_handler(event, context):
    print("hello from python", json.dumps(event))
    logger.info("stage %s", os.environ.get("STAGE"))
    if event.get("fail"):
        raise GreetingFailed("cannot greet %s" % event["fail"])
    cc = context.client_context
    return {
        "message": "%s, %s!" % (os.environ["GREETING"], event.get("name", "world")),
        "stage": os.environ["STAGE"],
        "mode": os.environ.get("MODE"),
        "logLevel": os.environ["LOG_LEVEL"],
        "context": {
            "aws_request_id": context.aws_request_id,
            "function_name": context.function_name,
            "function_version": context.function_version,
            "invoked_function_arn": context.invoked_function_arn,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "log_group_name": context.log_group_name,
            "log_stream_name": context.log_stream_name,
            "remaining": context.get_remaining_time_in_millis(),
            "client_context_custom": cc.custom if cc else None,
        },
    }
