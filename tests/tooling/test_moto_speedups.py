"""The local stack's Moto speed-ups change no answer: a failed transaction still leaves every item
as it was, and a successful one still applies all of its writes."""

import subprocess  # nosec B404 - our own interpreter
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.dynamodbstreams.responses import DynamoDBStreamsHandler
from moto.sqs.models import sqs_backends

from local_stack import moto_speedups

ROOT = Path(__file__).resolve().parents[2]


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


def test_stream_records_read_the_same_as_moto_writes_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """GetRecords written with json.dumps parses, through botocore, to exactly what Moto's own
    serializer gives: every attribute type, both images, removals, the creation time."""
    with mock_aws():
        moto_speedups.install()
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        arn = dynamodb.create_table(
            TableName="streamed",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )["TableDescription"]["LatestStreamArn"]
        item = {
            "pk": {"S": "a"},
            "n": {"N": "1.5"},
            "b": {"B": b"\x00\xff"},
            "ss": {"SS": ["x", "y"]},
            "ns": {"NS": ["1", "2"]},
            "l": {"L": [{"S": "z"}, {"BOOL": True}, {"NULL": True}]},
            "m": {"M": {"k": {"N": "3"}}},
        }
        dynamodb.put_item(TableName="streamed", Item=item)
        dynamodb.update_item(
            TableName="streamed",
            Key={"pk": {"S": "a"}},
            UpdateExpression="SET n = :n",
            ExpressionAttributeValues={":n": {"N": "2"}},
        )
        dynamodb.delete_item(TableName="streamed", Key={"pk": {"S": "a"}})
        streams = boto3.client(
            "dynamodbstreams", region_name="us-east-1", config=Config(account_id_endpoint_mode="disabled")
        )
        shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]

        def records() -> list[dict[str, Any]]:
            iterator = streams.get_shard_iterator(
                StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
            return streams.get_records(ShardIterator=iterator)["Records"]

        fast = records()
        monkeypatch.setattr(DynamoDBStreamsHandler, "get_records", moto_speedups.ORIGINAL_GET_RECORDS)
        assert fast == records()
        assert [r["eventName"] for r in fast] == ["INSERT", "MODIFY", "REMOVE"]
        assert fast[0]["dynamodb"]["NewImage"]["b"] == {"B": b"\x00\xff"}
        assert fast[1]["dynamodb"]["OldImage"]["n"] == {"N": "1.5"}
        assert "NewImage" not in fast[2]["dynamodb"]


def test_a_response_class_s_methods_are_listed_once_and_the_same() -> None:
    """As in the Moto server's process (a fresh one: other tests may have imported Moto anew)."""
    check = """
from local_stack import moto_speedups
moto_speedups.install()
from moto.core import responses, utils
from moto.dynamodb.responses import DynamoHandler
listed = responses.method_names_from_class(DynamoHandler)
assert listed is responses.method_names_from_class(DynamoHandler), "listed again"
assert listed == utils.method_names_from_class(DynamoHandler) and "transact_write_items" in listed
"""
    done = subprocess.run(
        [sys.executable, "-c", check], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
