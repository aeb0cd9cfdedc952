"""Create in the embedded AWS (moto) the resources template.yaml declares.

Tables, buckets, bucket notifications, queues and state machines are read from the template and
created with the same properties through boto3, so the local stack cannot drift from what
deploys: `tests/test_local_stack.py` compares what moto holds with the template.
"""

from __future__ import annotations

import json
from typing import Any

import boto3

from local.template import ROOT, Template

_TABLE_KEYS = (
    "AttributeDefinitions",
    "KeySchema",
    "GlobalSecondaryIndexes",
    "LocalSecondaryIndexes",
    "BillingMode",
    "StreamSpecification",
)


def provision(template: Template, endpoint_url: str) -> None:
    """Create every table, bucket (with its CORS rules), bucket notification and state machine of the template."""
    session = boto3.session.Session()
    client = lambda service: session.client(service, endpoint_url=endpoint_url)  # noqa: E731
    _create_tables(template, client("dynamodb"))
    _create_buckets(template, client("s3"))
    _create_queues(template, client("sqs"))
    _create_state_machines(template, client("stepfunctions"))


def _create_tables(template: Template, dynamodb: Any) -> None:
    for logical_id, resource in template.of_type("AWS::DynamoDB::Table").items():
        props = template.resolve(resource["Properties"])
        name = template.physical_name(logical_id)
        dynamodb.create_table(TableName=name, **{k: props[k] for k in _TABLE_KEYS if k in props})
        ttl = props.get("TimeToLiveSpecification")
        if ttl:
            dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)


# The AWS::SQS::Queue properties that are queue attributes of the same name in the SQS API.
QUEUE_ATTRIBUTES = (
    "DelaySeconds",
    "KmsMasterKeyId",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "SqsManagedSseEnabled",
    "VisibilityTimeout",
)


def queue_attributes(properties: dict[str, Any]) -> dict[str, str]:
    """A queue's properties as SQS attributes (strings; booleans as `true`/`false`)."""
    return {
        key: str(value).lower() if isinstance(value, bool) else str(value)
        for key, value in properties.items()
        if key in QUEUE_ATTRIBUTES
    }


def _create_queues(template: Template, sqs: Any) -> None:
    for logical_id, resource in template.of_type("AWS::SQS::Queue").items():
        attributes = queue_attributes(template.resolve(resource.get("Properties", {})))
        sqs.create_queue(QueueName=template.get_att(logical_id, "QueueName"), Attributes=attributes)


def _create_buckets(template: Template, s3: Any) -> None:
    for logical_id, resource in template.of_type("AWS::S3::Bucket").items():
        name = template.physical_name(logical_id)
        s3.create_bucket(Bucket=name)
        rules = bucket_cors_rules(template.resolve(resource.get("Properties", {})))
        if rules:
            s3.put_bucket_cors(Bucket=name, CORSConfiguration={"CORSRules": rules})
    for bucket, configs in bucket_notifications(template).items():
        s3.put_bucket_notification_configuration(
            Bucket=bucket, NotificationConfiguration={"LambdaFunctionConfigurations": configs}
        )


_CORS_RULE_KEYS = {
    "AllowedHeaders": "AllowedHeaders",
    "AllowedMethods": "AllowedMethods",
    "AllowedOrigins": "AllowedOrigins",
    "ExposedHeaders": "ExposeHeaders",
    "Id": "ID",
    "MaxAge": "MaxAgeSeconds",
}


def bucket_cors_rules(properties: dict[str, Any]) -> list[dict[str, Any]]:
    """A bucket's `CorsConfiguration` in the S3 API's names (CloudFormation says MaxAge, S3 MaxAgeSeconds)."""
    rules = (properties.get("CorsConfiguration") or {}).get("CorsRules", [])
    return [{_CORS_RULE_KEYS[key]: value for key, value in rule.items()} for rule in rules]


def bucket_notifications(template: Template) -> dict[str, list[dict[str, Any]]]:
    """The S3 -> Lambda notifications SAM derives from functions' `S3` events, per bucket."""
    notifications: dict[str, list[dict[str, Any]]] = {}
    for logical_id, resource in template.of_type("AWS::Serverless::Function").items():
        for event_name, event in resource["Properties"].get("Events", {}).items():
            if event["Type"] != "S3":
                continue
            props = event["Properties"]
            config: dict[str, Any] = {
                "Id": f"{logical_id}{event_name}",
                "LambdaFunctionArn": template.arn(logical_id),
                "Events": props["Events"] if isinstance(props["Events"], list) else [props["Events"]],
            }
            if "Filter" in props:
                config["Filter"] = {"Key": {"FilterRules": props["Filter"]["S3Key"]["Rules"]}}
            notifications.setdefault(template.resolve(props["Bucket"]), []).append(config)
    return notifications


def state_machine_definition(template: Template, logical_id: str) -> dict[str, Any]:
    """The state machine's ASL with its DefinitionSubstitutions applied, as Step Functions gets it."""
    props = template.resources[logical_id]["Properties"]
    text = (ROOT / props["DefinitionUri"]).read_text()
    for key, value in props.get("DefinitionSubstitutions", {}).items():
        text = text.replace("${" + key + "}", str(template.resolve(value)))
    return json.loads(text)


def _create_state_machines(template: Template, stepfunctions: Any) -> None:
    for logical_id in template.of_type("AWS::Serverless::StateMachine"):
        stepfunctions.create_state_machine(
            name=template.get_att(logical_id, "Name"),
            definition=json.dumps(state_machine_definition(template, logical_id)),
            roleArn=f"arn:aws:iam::{template.resolve({'Ref': 'AWS::AccountId'})}:role/{logical_id}Role",
            type="STANDARD",
        )
