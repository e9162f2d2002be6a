"""The local stack's SQS event sources gather batches as Lambda's event source mapping does: up to
BatchSize messages, ten to a ReceiveMessage, for at most the batching window from the first."""

import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local_stack import queues
from local_stack import template as tpl


@pytest.fixture
def sqs() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("sqs", region_name="us-east-1")


def queue_with(sqs: Any, messages: int) -> str:
    url: str = sqs.create_queue(QueueName="chunks")["QueueUrl"]
    for start in range(0, messages, 10):
        sqs.send_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(i), "MessageBody": str(i)} for i in range(start, min(messages, start + 10))],
        )
    return url


def source(url: str, batch_size: int, window_s: float) -> queues.QueueSource:
    arn = "arn:aws:sqs:us-east-1:123456789012:chunks"
    return queues.QueueSource("Sender", url, arn, batch_size, 1, window_s)


def test_the_campaign_sender_takes_the_template_s_batch_and_window() -> None:
    template = tpl.load()
    refs = tpl.parameter_defaults(template)
    for name in tpl.resources_of_type(template, "AWS::SQS::Queue"):
        refs |= {name: f"https://queue/{name}", f"{name}.Arn": f"arn:{name}"}
    (sender,) = [s for s in queues.sources(template, refs) if s.function == "CampaignSenderFunction"]
    assert (sender.batch_size, sender.window_s) == (10, 1.0)


def test_a_batch_over_ten_is_gathered_from_several_receives(sqs: Any) -> None:
    url = queue_with(sqs, 45)
    got = queues.QueuePoller(source(url, 30, 1.0), None, sqs).gather()
    assert len(got) == 30 and len({m["MessageId"] for m in got}) == 30


def test_a_short_queue_waits_out_the_window_then_goes(sqs: Any) -> None:
    url = queue_with(sqs, 12)
    started = time.monotonic()
    got = queues.QueuePoller(source(url, 30, 0.3), None, sqs).gather()
    assert len(got) == 12 and time.monotonic() - started >= 0.3
    # Those twelve are in flight now: the queue brings nothing.
    assert queues.QueuePoller(source(url, 30, 0.3), None, sqs).gather() == []


def test_an_idle_poller_long_polls_and_takes_a_message_sent_meanwhile(sqs: Any) -> None:
    url = queue_with(sqs, 0)
    receives: list[int] = []
    sqs.meta.events.register("before-call.sqs.ReceiveMessage", lambda **_: receives.append(1))
    later = threading.Timer(0.3, lambda: sqs.send_message(QueueUrl=url, MessageBody="late"))
    later.start()
    got = queues.QueuePoller(source(url, 1, 0.0), None, sqs).gather()
    later.join()
    # One ReceiveMessage waited for it: a short poll would have come back empty.
    assert [m["Body"] for m in got] == ["late"] and len(receives) == 1


def test_a_large_batch_is_deleted_ten_at_a_time_except_its_failures(sqs: Any) -> None:
    url = queue_with(sqs, 25)
    got = queues.QueuePoller(source(url, 30, 0.0), None, sqs).gather()
    got += queues.QueuePoller(source(url, 30, 0.0), None, sqs).gather()
    got += queues.QueuePoller(source(url, 30, 0.0), None, sqs).gather()
    assert len(got) == 25
    failed = got[7]["MessageId"]

    class Function:
        def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
            assert len(event["Records"]) == 25
            return {"batchItemFailures": [{"itemIdentifier": failed}]}

    queues.QueuePoller(source(url, 30, 0.0), Function(), sqs).deliver(got)  # type: ignore[arg-type]
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "0"})
    left = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert int(left["ApproximateNumberOfMessages"]) + int(left["ApproximateNumberOfMessagesNotVisible"]) == 1
