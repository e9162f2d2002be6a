"""A campaign's delivered and failed counts, from the messages table's stream (Moto's), filtered as
the template tells Lambda to, handed to the progress function: receipts stay one write, no read."""

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.config import Config

from local_stack import streams
from smsgw.campaigns import progress
from tests.handlers.conftest import Invoke, Stack, context, load_handler
from tests.handlers.test_callback import receipt_event, sent_230sms, taskid_of
from tests.handlers.test_campaigns import campaign_resources, planned, sqs_event, view

__all__ = ["campaign_resources"]


def stream_batch(stack: Stack, function: str = "CampaignProgressFunction") -> list[dict[str, Any]]:
    """What Lambda would hand a stream function: every record of the messages table's stream so far
    that the function's filter in the template keeps."""
    tables = {"MessagesTable": stack.env["MESSAGES_TABLE"]}
    (source,) = [s for s in streams.sources(stack.template, tables) if s.function == function]
    arn = boto3.client("dynamodb").describe_table(TableName=stack.env["MESSAGES_TABLE"])["Table"][
        "LatestStreamArn"
    ]
    # Moto answers on the regional endpoint; botocore would pick an account's own for a stream ARN.
    client = boto3.client("dynamodbstreams", config=Config(account_id_endpoint_mode="disabled"))
    shard = client.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = client.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    records = client.get_records(ShardIterator=iterator["ShardIterator"], Limit=1000)["Records"]
    return [
        streams._as_lambda_sees_it(r, arn)
        for r in records
        if any(streams.matches(p, r) for p in source.patterns)
    ]


def count(records: list[dict[str, Any]]) -> dict[str, Any]:
    answer: dict[str, Any] = load_handler("campaign_progress").lambda_handler(
        {"Records": records}, context(60)
    )
    return answer


@pytest.fixture(autouse=True)
def fresh_progress() -> None:
    progress.campaign_progress.cache_clear()


def test_receipts_of_a_campaign_count_once_as_delivered_and_failed(stack: Stack, invoke: Invoke) -> None:
    numbers = [f"1380019{n:04d}" for n in range(4)]
    campaign_id, chunks = planned(stack, invoke, numbers)
    load_handler("campaign_sender").lambda_handler({"Records": [_record(c) for c in chunks]}, context(60))
    (request,) = [r for r in stack.requests() if r["request_id"] == campaign_id]
    taskid = str(request["provider_id"])
    for n, number in enumerate(numbers):
        status = "UNDELIV" if n == 3 else "DELIVRD"
        assert (
            invoke("callback", receipt_event(taskid=taskid, mobile=f"86{number}", status=status))["body"]
            == "OK"
        )
    assert (
        invoke("callback", receipt_event(taskid=taskid, mobile=f"86{numbers[0]}"))["body"] == "OK"
    )  # a repeat
    batch = stream_batch(stack)
    assert len(batch) == 4  # the repeat changed nothing, so the stream has nothing of it
    assert count(batch) == {"campaigns": 1}
    counts = view(invoke, campaign_id)["counts"]
    assert (counts["delivered"], counts["failed"], counts["submitted"]) == (3, 1, 4)
    assert count(batch) == {"campaigns": 1}  # the same batch handed over again: counted once
    assert view(invoke, campaign_id)["counts"]["delivered"] == 3


def test_a_receipt_of_a_request_not_recorded_yet_waits_then_counts_nothing(stack: Stack) -> None:
    fresh = datetime.now(UTC)
    record = _status_record("req-not-recorded", "delivered", fresh)
    with pytest.raises(progress.NotRecordedYet):
        count([record])
    stale = _status_record(
        "req-not-recorded", "delivered", fresh - progress.WAIT_FOR_RECORD - timedelta(seconds=1)
    )
    assert count([stale]) == {"campaigns": 0}


def test_receipts_of_plain_sends_count_nothing_and_read_each_request_once(
    stack: Stack, invoke: Invoke, count_dynamodb_calls: list[str]
) -> None:
    message = sent_230sms(invoke)
    invoke("callback", receipt_event(taskid=taskid_of(message["message_id"])))
    batch = stream_batch(stack)
    count_dynamodb_calls.clear()
    for _ in range(2):
        assert count(batch) == {"campaigns": 0}
    assert count_dynamodb_calls == ["BatchGetItem"]  # the request, once: then remembered


def _record(message: dict[str, Any]) -> dict[str, Any]:
    record: dict[str, Any] = sqs_event("arn:chunks", [message])["Records"][0]
    return record


def _status_record(request_key: str, status: str, at: datetime) -> dict[str, Any]:
    return {
        "eventID": f"e-{at.timestamp()}",
        "eventName": "MODIFY",
        "dynamodb": {
            "Keys": {"pk": {"S": "num#230sms#abcdef0123456789"}, "sk": {"S": request_key}},
            "NewImage": {"status": {"S": status}, "updated_at": {"S": at.isoformat()}},
            "OldImage": {"status": {"S": "submitted"}},
        },
    }
