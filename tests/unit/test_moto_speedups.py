"""The local stack's Moto speed-ups change no answer: a failed transaction still leaves every item
as it was, and a successful one still applies all of its writes."""

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from local_stack import moto_speedups


@pytest.fixture
def client() -> Iterator[Any]:
    with mock_aws():
        moto_speedups.install()
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        for name, keys in (("plain", ["pk"]), ("ranged", ["pk", "sk"])):
            dynamodb.create_table(
                TableName=name,
                KeySchema=[
                    {"AttributeName": k, "KeyType": t} for k, t in zip(keys, ("HASH", "RANGE"), strict=False)
                ],
                AttributeDefinitions=[{"AttributeName": k, "AttributeType": "S"} for k in keys],
                BillingMode="PAY_PER_REQUEST",
            )
        dynamodb.put_item(TableName="plain", Item={"pk": {"S": "a"}, "n": {"N": "1"}})
        dynamodb.put_item(TableName="ranged", Item={"pk": {"S": "a"}, "sk": {"S": "1"}, "n": {"N": "1"}})
        yield dynamodb


SET_PLAIN_N_TO_2 = {
    "Update": {
        "TableName": "plain",
        "Key": {"pk": {"S": "a"}},
        "UpdateExpression": "SET n = :n",
        "ExpressionAttributeValues": {":n": {"N": "2"}},
    }
}


def items(client: Any) -> dict[str, list[dict[str, Any]]]:
    return {name: sorted(client.scan(TableName=name)["Items"], key=str) for name in ("plain", "ranged")}


def test_a_failed_transaction_leaves_every_item_as_it_was(client: Any) -> None:
    before = items(client)
    with pytest.raises(ClientError, match="TransactionCanceled"):
        client.transact_write_items(
            TransactItems=[
                SET_PLAIN_N_TO_2,
                {"Put": {"TableName": "plain", "Item": {"pk": {"S": "new"}}}},
                {"Put": {"TableName": "ranged", "Item": {"pk": {"S": "a"}, "sk": {"S": "2"}}}},
                {
                    "Update": {
                        "TableName": "ranged",
                        "Key": {"pk": {"S": "a"}, "sk": {"S": "1"}},
                        "UpdateExpression": "SET n = :n",
                        "ConditionExpression": "n = :other",
                        "ExpressionAttributeValues": {":n": {"N": "5"}, ":other": {"N": "9"}},
                    }
                },
            ]
        )
    assert items(client) == before


def test_a_successful_transaction_applies_all_its_writes(client: Any) -> None:
    client.transact_write_items(
        TransactItems=[
            SET_PLAIN_N_TO_2,
            {"Put": {"TableName": "ranged", "Item": {"pk": {"S": "b"}, "sk": {"S": "1"}}}},
        ]
    )
    after = items(client)
    assert after["plain"] == [{"pk": {"S": "a"}, "n": {"N": "2"}}]
    assert {"pk": {"S": "b"}, "sk": {"S": "1"}} in after["ranged"]
