"""The local stack's Moto speed-ups change no answer: a failed transaction still leaves every item
as it was, and a successful one still applies all of its writes."""

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.sqs.models import sqs_backends

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


def test_a_message_past_its_queue_s_retention_is_still_not_handed_out() -> None:
    with mock_aws():
        moto_speedups.install()
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="q", Attributes={"MessageRetentionPeriod": "60"})["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="old")
        sqs.send_message(QueueUrl=url, MessageBody="new")
        queue = sqs_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].queues["q"]
        old = next(m for m in queue._messages if m.body == "old")
        old.sent_timestamp -= 61_000  # sent 61 s ago: past the 60 s the queue keeps messages
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        assert [m["Body"] for m in got] == []  # Moto stops at the first expired message, as before
        fresh = sqs.create_queue(QueueName="f", Attributes={"MessageRetentionPeriod": "60"})["QueueUrl"]
        sqs.send_message(QueueUrl=fresh, MessageBody="fresh")
        got = sqs.receive_message(QueueUrl=fresh, MaxNumberOfMessages=10).get("Messages", [])
        assert [m["Body"] for m in got] == ["fresh"]


def test_sends_still_deduplicate_by_content_on_a_fifo_queue_and_count_on_a_standard_one() -> None:
    with mock_aws():
        moto_speedups.install()
        sqs = boto3.client("sqs", region_name="us-east-1")
        fifo = sqs.create_queue(
            QueueName="q.fifo", Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"}
        )["QueueUrl"]
        for _ in range(2):
            sqs.send_message(QueueUrl=fifo, MessageBody="same", MessageGroupId="g")
        standard = sqs.create_queue(QueueName="s")["QueueUrl"]
        sqs.send_message_batch(QueueUrl=standard, Entries=[{"Id": "1", "MessageBody": "same"}])
        sqs.send_message(QueueUrl=standard, MessageBody="same")
        counts = {
            url: sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])[
                "Attributes"
            ]["ApproximateNumberOfMessages"]
            for url in (fifo, standard)
        }
        assert counts == {fifo: "1", standard: "2"}
