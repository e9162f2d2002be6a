"""Creates the template's DynamoDB tables, Secrets Manager secrets, S3 buckets and SQS queues in an
AWS endpoint (Moto)."""

import json
import secrets
import string
from typing import Any

from . import template as tpl

_TABLE_KEYS = ("KeySchema", "AttributeDefinitions", "GlobalSecondaryIndexes", "LocalSecondaryIndexes")


def create_tables(template: dict[str, Any], dynamodb: Any, prefix: str = "") -> dict[str, str]:
    """One table per AWS::DynamoDB::Table, with the template's keys, indexes, stream and TTL. Returns
    logical id -> table name."""
    names = {}
    for logical_id, props in tpl.resources_of_type(template, "AWS::DynamoDB::Table").items():
        name = prefix + logical_id
        spec = {key: props[key] for key in _TABLE_KEYS if key in props}
        if stream := props.get("StreamSpecification"):
            spec["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream["StreamViewType"]}
        dynamodb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST", **spec)
        ttl = props.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            dynamodb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
            )
        names[logical_id] = name
    return names


def create_secrets(
    template: dict[str, Any], secretsmanager: Any, values: dict[str, dict[str, Any]], prefix: str = ""
) -> dict[str, str]:
    """One secret per AWS::SecretsManager::Secret: the given value, or what the template would
    generate (its SecretStringTemplate plus a random GenerateStringKey). Returns logical id -> name
    (Secrets Manager takes a name wherever it takes an ARN, and names are stable across restarts)."""
    names = {}
    for logical_id, props in tpl.resources_of_type(template, "AWS::SecretsManager::Secret").items():
        value = values.get(logical_id)
        if value is None:
            generate = props.get("GenerateSecretString", {})
            value = json.loads(generate.get("SecretStringTemplate", "{}"))
            length = int(generate.get("PasswordLength", 32))  # Secrets Manager's default is longer
            alphabet = string.ascii_letters + string.digits
            value[generate.get("GenerateStringKey", "value")] = "".join(
                secrets.choice(alphabet) for _ in range(length)
            )
        secretsmanager.create_secret(Name=prefix + logical_id, SecretString=json.dumps(value))
        names[logical_id] = prefix + logical_id
    return names


ACCOUNT = "123456789012"
REGION = "us-east-1"
STACK = "sms-gateway-local"


def references(
    template: dict[str, Any], tables: dict[str, str], secret_names: dict[str, str]
) -> dict[str, str]:
    """What `Ref` (and `GetAtt`, as `Id.Attribute`) yields locally: parameter defaults, table and
    secret names, bucket names, queue URLs / ARNs / names, role ARNs, pseudo parameters."""
    refs = {
        **tpl.parameter_defaults(template),
        **tables,
        **secret_names,
        "AWS::Region": REGION,
        "AWS::StackName": STACK,
        "AWS::AccountId": ACCOUNT,
    }
    for logical_id in tpl.resources_of_type(template, "AWS::S3::Bucket"):
        refs[logical_id] = bucket_name(logical_id)
    for logical_id in tpl.resources_of_type(template, "AWS::SQS::Queue"):
        name = f"{STACK}-{logical_id}"
        refs[logical_id] = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name}"
        refs[f"{logical_id}.Arn"] = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"
        refs[f"{logical_id}.QueueName"] = name
    for logical_id in tpl.resources_of_type(template, "AWS::IAM::Role"):
        refs[f"{logical_id}.Arn"] = f"arn:aws:iam::{ACCOUNT}:role/{STACK}-{logical_id}"
    for logical_id in tpl.resources_of_type(template, "AWS::KMS::Key"):
        refs[logical_id] = key_alias(logical_id)  # KMS takes an alias wherever it takes a key id
        refs[f"{logical_id}.Arn"] = f"arn:aws:kms:{REGION}:{ACCOUNT}:{key_alias(logical_id)}"
    return refs


def key_alias(logical_id: str) -> str:
    return f"alias/{STACK}-{logical_id}"


def create_keys(template: dict[str, Any], kms: Any) -> None:
    """Each KMS key, under an alias of its logical id (Moto makes key ids at random)."""
    for logical_id in tpl.resources_of_type(template, "AWS::KMS::Key"):
        key_id = kms.create_key(Description=logical_id)["KeyMetadata"]["KeyId"]
        kms.create_alias(AliasName=key_alias(logical_id), TargetKeyId=key_id)


def bucket_name(logical_id: str) -> str:
    return f"{STACK}-{logical_id}".lower()


def create_buckets(template: dict[str, Any], s3: Any) -> None:
    for logical_id in tpl.resources_of_type(template, "AWS::S3::Bucket"):
        s3.create_bucket(Bucket=bucket_name(logical_id))


def create_queues(template: dict[str, Any], sqs: Any) -> None:
    """Each queue, with its visibility timeout and dead-letter redrive (dead-letter queues first)."""
    refs = references(template, {}, {})
    queues = tpl.resources_of_type(template, "AWS::SQS::Queue")
    for logical_id in sorted(queues, key=lambda q: "RedrivePolicy" in queues[q]):
        props = queues[logical_id]
        attributes = {}
        if "VisibilityTimeout" in props:
            attributes["VisibilityTimeout"] = str(props["VisibilityTimeout"])
        if redrive := props.get("RedrivePolicy"):
            target = tpl.resolve(redrive["deadLetterTargetArn"], refs)
            attributes["RedrivePolicy"] = json.dumps(
                {"deadLetterTargetArn": target, "maxReceiveCount": str(redrive["maxReceiveCount"])}
            )
        sqs.create_queue(QueueName=refs[f"{logical_id}.QueueName"], Attributes=attributes)


def local_names(template: dict[str, Any], prefix: str = "") -> tuple[dict[str, str], dict[str, str]]:
    """The table and secret names `create_tables` / `create_secrets` give: logical id (with prefix)."""
    tables = {name: prefix + name for name in tpl.resources_of_type(template, "AWS::DynamoDB::Table")}
    secret_names = {
        name: prefix + name for name in tpl.resources_of_type(template, "AWS::SecretsManager::Secret")
    }
    return tables, secret_names
