"""Creates the template's DynamoDB tables and Secrets Manager secrets in an AWS endpoint (Moto)."""

import json
import secrets
from typing import Any

from . import template as tpl

_TABLE_KEYS = ("KeySchema", "AttributeDefinitions", "GlobalSecondaryIndexes", "LocalSecondaryIndexes")


def create_tables(template: dict[str, Any], dynamodb: Any, prefix: str = "") -> dict[str, str]:
    """One table per AWS::DynamoDB::Table, with the template's keys, indexes and TTL. Returns
    logical id -> table name."""
    names = {}
    for logical_id, props in tpl.resources_of_type(template, "AWS::DynamoDB::Table").items():
        name = prefix + logical_id
        spec = {key: props[key] for key in _TABLE_KEYS if key in props}
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
    template: dict[str, Any], secretsmanager: Any, values: dict[str, dict[str, str]], prefix: str = ""
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
            value[generate.get("GenerateStringKey", "value")] = secrets.token_urlsafe(30)
        secretsmanager.create_secret(Name=prefix + logical_id, SecretString=json.dumps(value))
        names[logical_id] = prefix + logical_id
    return names


def references(
    template: dict[str, Any], tables: dict[str, str], secret_names: dict[str, str]
) -> dict[str, str]:
    """What `Ref` yields locally: parameter defaults, table names, secret names, pseudo parameters."""
    return {
        **tpl.parameter_defaults(template),
        **tables,
        **secret_names,
        "AWS::Region": "us-east-1",
        "AWS::StackName": "sms-gateway-local",
        "AWS::AccountId": "123456789012",
    }


def local_names(template: dict[str, Any], prefix: str = "") -> tuple[dict[str, str], dict[str, str]]:
    """The table and secret names `create_tables` / `create_secrets` give: logical id (with prefix)."""
    tables = {name: prefix + name for name in tpl.resources_of_type(template, "AWS::DynamoDB::Table")}
    secret_names = {
        name: prefix + name for name in tpl.resources_of_type(template, "AWS::SecretsManager::Secret")
    }
    return tables, secret_names
