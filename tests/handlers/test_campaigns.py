"""Campaigns through their three functions (API, planner, sender) on Moto's S3, SQS, DynamoDB and
Scheduler, with the sandboxes on loopback. The SQS event source is played by `drain`: it receives
what the queues hold and hands it to the function the template wires to each queue."""

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from local_stack import queues, resources
from local_stack import template as tpl
from local_stack.lambdas import reset_caches
from smsgw.campaigns.model import closed_for
from smsgw.campaigns.planner import planner
from smsgw.campaigns.sender import IN_FLIGHT_SECONDS, chunk_sender
from smsgw.campaigns.service import campaigns
from smsgw.domain.statuses import CampaignState
from smsgw.sending import dispatch
from tests.handlers.conftest import Invoke, Stack, api_event, body, context, load_handler
from tests.handlers.test_tenants import block

SEND = "/outauth/send"


def sent_230(stack: Stack) -> list[str]:
    return [n for r in stack.sms230.recorded(SEND) for n in r.body["mobile"].split(",")]


def create(invoke: Invoke, payload: dict[str, Any]) -> dict[str, Any]:
    return invoke("campaigns", api_event("POST", "/sms/campaigns", "/sms/campaigns", None, payload))


def start(invoke: Invoke, campaign_id: str) -> dict[str, Any]:
    path = f"/sms/campaigns/{campaign_id}/start"
    return invoke("campaigns", api_event("POST", "/sms/campaigns/{id}/start", path, {"id": campaign_id}))


def view(invoke: Invoke, campaign_id: str) -> dict[str, Any]:
    path = f"/sms/campaigns/{campaign_id}"
    response = invoke("campaigns", api_event("GET", "/sms/campaigns/{id}", path, {"id": campaign_id}))
    assert response["statusCode"] == 200, response["body"]
    answer: dict[str, Any] = body(response)
    return answer


def cancel(invoke: Invoke, campaign_id: str) -> dict[str, Any]:
    path = f"/sms/campaigns/{campaign_id}"
    return invoke("campaigns", api_event("DELETE", "/sms/campaigns/{id}", path, {"id": campaign_id}))


def sqs_event(queue_arn: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The event Lambda's SQS source hands a function (the local stack's own builder)."""
    return queues.sqs_event(queues.QueueSource("", "", queue_arn, 10, 1), messages)


def drain(stack: Stack, rounds: int = 50) -> list[str]:
    """Hand each queue's messages to its function until both are empty; the failures reported."""
    sqs = boto3.client("sqs")
    handlers = {
        "CAMPAIGN_PLAN_QUEUE_URL": load_handler("campaign_planner"),
        "CAMPAIGN_QUEUE_URL": load_handler("campaign_sender"),
    }
    failed: list[str] = []
    for _ in range(rounds):
        busy = False
        for variable, handler in handlers.items():
            url = stack.env[variable]
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            if not got:
                continue
            busy = True
            arn = "arn:aws:sqs:us-east-1:123456789012:" + url.rsplit("/", 1)[1]
            answer = handler.lambda_handler(sqs_event(arn, got), context(60))
            bad = {f["itemIdentifier"] for f in answer["batchItemFailures"]}
            failed += sorted(bad)
            for m in got:  # what the event source does with a batch's successes
                if m["MessageId"] not in bad:
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        if not busy:
            return failed
    raise AssertionError("queues never emptied")


def upload(stack: Stack, campaign_id: str, text: str | bytes, content_type: str = "text/plain") -> None:
    data = text.encode() if isinstance(text, str) else text
    boto3.client("s3").put_object(
        Bucket=stack.env["CAMPAIGN_BUCKET"],
        Key=f"campaigns/{campaign_id}/recipients",
        Body=data,
        ContentType=content_type,
    )


@pytest.fixture(autouse=True)
def campaign_resources(stack: Stack) -> None:
    """The template's bucket and queues (only these tests need them: the names are in every env)."""
    resources.create_buckets(stack.template, boto3.client("s3"))
    resources.create_queues(stack.template, boto3.client("sqs"))
    campaigns.cache_clear()


@pytest.mark.parametrize("overflowing", [True, False])  # the blocklist read per key, or as the tenant's set
def test_an_inline_campaign_counts_every_entry_and_sends_each_number_once(
    stack: Stack, invoke: Invoke, overflowing: bool
) -> None:
    good = [f"1380000{n:04d}" for n in range(250)]
    entries = ["not a number", good[0], "+86 138-0000-0001", "123", "+1 650 253 0000", *good[2:], "12"]
    assert invoke("blocklist", block("+8613800000100", "anonymous"))["statusCode"] == 200
    if overflowing:  # a set past its cap is not trusted: each number's key is read
        dynamodb = boto3.client("dynamodb")
        (set_key,) = [
            i["pk"]["S"]
            for i in dynamodb.scan(TableName=stack.env["BLOCKLIST_TABLE"])["Items"]
            if i["pk"]["S"].startswith("blockset#")
        ]
        dynamodb.update_item(
            TableName=stack.env["BLOCKLIST_TABLE"],
            Key={"pk": {"S": set_key}},
            UpdateExpression="SET overflow = :yes REMOVE #keys",
            ExpressionAttributeNames={"#keys": "keys"},
            ExpressionAttributeValues={":yes": {"BOOL": True}},
        )
    created = create(invoke, {"content": "sale", "kind": "notification", "to": entries})
    assert created["statusCode"] == 202, created["body"]
    campaign_id = body(created)["campaign_id"]
    assert body(created)["state"] == "running"
    assert drain(stack) == []
    seen = view(invoke, campaign_id)
    assert seen["state"] == "done"
    assert seen["counts"] == {
        "total": len(entries),
        "invalid": 4,  # text, too short, a country not allowed, too short
        "blocked": 1,
        "queued": 249,
        "submitted": 249,
        "unknown": 0,
        "rejected": 0,
        "delivered": 0,
        "failed": 0,
    }
    assert seen["provider_requests"] == 1  # 249 numbers: one 230sms request
    assert sorted(sent_230(stack)) == sorted(f"86{n}" for n in set(good) - {"13800000100"})  # wire form
    report = (
        boto3.client("s3")
        .get_object(Bucket=stack.env["CAMPAIGN_BUCKET"], Key=f"campaigns/{campaign_id}/invalid.csv")["Body"]
        .read()
        .decode()
    )
    lines = report.splitlines()
    assert lines[0] == "line,entry,reason" and [line.split(",")[0] for line in lines[1:]] == [
        "1",
        "4",
        "5",
        "254",
    ]
    assert "invalid_url" in seen
    assert "650 253 0000" not in report  # entries are masked in the report


def test_an_uploaded_list_is_cut_at_the_providers_cap(stack: Stack, invoke: Invoke) -> None:
    created = create(invoke, {"content": "hi", "kind": "notification", "provider": "cmessages"})
    assert created["statusCode"] == 201
    answer = body(created)
    assert answer["state"] == "draft" and answer["upload_url"].startswith("https://")
    numbers = [f"+861390000{n:04d}" for n in range(1000)]
    upload(
        stack, answer["campaign_id"], "phone,name\n" + "\n".join(f"{n},x" for n in numbers) + "\n", "text/csv"
    )
    assert start(invoke, answer["campaign_id"])["statusCode"] == 202
    assert drain(stack) == []
    seen = view(invoke, answer["campaign_id"])
    assert seen["state"] == "done" and seen["chunks"] == {"total": 10, "done": 10}
    assert seen["counts"]["submitted"] == 1000 and seen["provider_requests"] == 10
    assert len(stack.cm.recorded("/sms/send_message")) == 10
    assert len(stack.cm.messages) == 1000
    assert start(invoke, answer["campaign_id"])["statusCode"] == 409  # once


@pytest.mark.parametrize(
    ("text", "content_type", "message"),
    [
        (None, "text/plain", "no list uploaded"),
        ("", "text/plain", "empty"),
        ("13800138000\n", "application/octet-stream", "content type"),
        ("hello\nworld\n", "text/plain", "no phone number"),
        ("13800138000\n" * 200, "text/plain", "bytes; at most"),
    ],
)
def test_a_bad_upload_is_refused_and_starts_nothing(
    stack: Stack,
    invoke: Invoke,
    monkeypatch: pytest.MonkeyPatch,
    text: str | None,
    content_type: str,
    message: str,
) -> None:
    monkeypatch.setenv("CAMPAIGN_MAX_UPLOAD_BYTES", "1000")
    campaigns.cache_clear()
    campaign_id = body(create(invoke, {"content": "hi", "kind": "notification"}))["campaign_id"]
    if text is not None:
        upload(stack, campaign_id, text, content_type)
    refused = start(invoke, campaign_id)
    assert refused["statusCode"] == 422
    (problem,) = body(refused)["error"]["fields"]
    assert problem["field"] == "upload" and message in problem["message"]
    assert view(invoke, campaign_id)["state"] == "draft"
    assert drain(stack) == [] and sent_230(stack) == []


def test_a_redelivered_chunk_is_not_sent_again(stack: Stack, invoke: Invoke) -> None:
    campaign_id = body(
        create(invoke, {"content": "hi", "kind": "notification", "to": ["13800138000", "13800138001"]})
    )["campaign_id"]
    sqs = boto3.client("sqs")
    planner = load_handler("campaign_planner")
    plan = sqs.receive_message(QueueUrl=stack.env["CAMPAIGN_PLAN_QUEUE_URL"])["Messages"]
    planner.lambda_handler(sqs_event("arn:plan", plan), context(60))
    (chunk,) = sqs.receive_message(QueueUrl=stack.env["CAMPAIGN_QUEUE_URL"])["Messages"]
    sender = load_handler("campaign_sender")
    for _ in range(2):  # SQS delivers at least once
        assert sender.lambda_handler(sqs_event("arn:chunks", [chunk]), context(60))["batchItemFailures"] == []
    assert len(stack.sms230.recorded(SEND)) == 1
    assert view(invoke, campaign_id)["counts"]["submitted"] == 2


def planned(stack: Stack, invoke: Invoke, numbers: list[str]) -> tuple[str, list[dict[str, Any]]]:
    """A notification campaign created inline and planned: its id and its chunks' SQS messages."""
    campaign_id = body(create(invoke, {"content": "hi", "kind": "notification", "to": numbers}))[
        "campaign_id"
    ]
    sqs = boto3.client("sqs")
    plan = sqs.receive_message(QueueUrl=stack.env["CAMPAIGN_PLAN_QUEUE_URL"])["Messages"]
    load_handler("campaign_planner").lambda_handler(sqs_event("arn:plan", plan), context(60))
    chunks = sqs.receive_message(QueueUrl=stack.env["CAMPAIGN_QUEUE_URL"], MaxNumberOfMessages=10)
    return campaign_id, chunks["Messages"]


def test_a_sender_killed_after_the_provider_took_the_chunk_leaves_it_unknown(
    stack: Stack, invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    numbers = ["13800138000", "13800138001", "13800138002"]
    campaign_id, (chunk,) = planned(stack, invoke, numbers)
    real = dispatch.dispatch_and_describe

    class Killed(BaseException):
        pass

    def dies_after_sending(*args: Any, **kwargs: Any) -> Any:
        real(*args, **kwargs)
        raise Killed

    monkeypatch.setattr(chunk_sender(), "dispatcher", dies_after_sending)
    clock = Clock("2026-12-01T10:00:00")
    campaigns().clock = chunk_sender().clock = clock
    sender = load_handler("campaign_sender")
    with pytest.raises(Killed):
        sender.lambda_handler(sqs_event("arn:chunks", [chunk]), context(60))
    monkeypatch.setattr(chunk_sender(), "dispatcher", real)
    # Within a sender's lifetime the first one may still be at work: the copy waits, sends nothing.
    clock.to("2026-12-01T10:01:00")
    failed = sender.lambda_handler(sqs_event("arn:chunks", [chunk]), context(60))["batchItemFailures"]
    assert [f["itemIdentifier"] for f in failed] == [chunk["MessageId"]]
    assert view(invoke, campaign_id)["counts"]["unknown"] == 0
    clock.to("2026-12-01T10:01:31")  # past IN_FLIGHT_SECONDS: the first sender is certainly gone
    assert sender.lambda_handler(sqs_event("arn:chunks", [chunk]), context(60))["batchItemFailures"] == []
    assert len(stack.sms230.recorded(SEND)) == 1  # not sent again
    seen = view(invoke, campaign_id)
    assert seen["counts"]["unknown"] == 3 and seen["counts"]["submitted"] == 0 and seen["state"] == "done"
    (unknown,) = [r for r in stack.requests() if r["request_id"] == campaign_id]
    assert unknown["status"] == "unknown" and unknown["numbers"].split() == [f"+86{n}" for n in numbers]


def test_a_copy_delivered_while_the_chunk_is_sending_is_neither_sent_nor_counted_again(
    stack: Stack, invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQS may hand one message to two senders at once: the second must not call it unknown."""
    numbers = ["13800138010", "13800138011"]
    campaign_id, (chunk,) = planned(stack, invoke, numbers)
    sender, other_container = load_handler("campaign_sender"), load_handler("campaign_sender")
    real = dispatch.dispatch_and_describe
    copies: list[Any] = []

    def copy_arrives_meanwhile(*args: Any, **kwargs: Any) -> Any:
        copies.append(other_container.lambda_handler(sqs_event("arn:chunks", [chunk]), context(60)))
        return real(*args, **kwargs)

    monkeypatch.setattr(chunk_sender(), "dispatcher", copy_arrives_meanwhile)
    assert sender.lambda_handler(sqs_event("arn:chunks", [chunk]), context(60))["batchItemFailures"] == []
    assert [f["itemIdentifier"] for f in copies[0]["batchItemFailures"]] == [chunk["MessageId"]]
    monkeypatch.setattr(chunk_sender(), "dispatcher", real)
    assert sender.lambda_handler(sqs_event("arn:chunks", [chunk]), context(60))["batchItemFailures"] == []
    assert len(stack.sms230.recorded(SEND)) == 1
    counts = view(invoke, campaign_id)["counts"]
    assert (counts["submitted"], counts["unknown"]) == (2, 0)


def test_a_batch_of_chunks_is_begun_and_recorded_in_one_transaction_each(
    stack: Stack, invoke: Invoke, monkeypatch: pytest.MonkeyPatch, count_dynamodb_calls: list[str]
) -> None:
    """Ten chunks in one invocation cost what one does: an intent transaction, a record transaction,
    one completion check, and the asks for rate places."""
    monkeypatch.setenv("SMS230_BATCH_SIZE", "2")
    numbers = [f"1380013{n:04d}" for n in range(20)]
    campaign_id, chunks = planned(stack, invoke, numbers)
    assert len(chunks) == 10
    count_dynamodb_calls.clear()
    sender = load_handler("campaign_sender")
    assert sender.lambda_handler(sqs_event("arn:chunks", chunks), context(60))["batchItemFailures"] == []
    assert count_dynamodb_calls.count("TransactWriteItems") == 2
    assert count_dynamodb_calls.count("GetItem") == 1  # the campaign, once
    # The completion check, and one ask for the ten requests' rate places (announced together); a
    # second when the slot ends while it is asked for, its places too late to use.
    assert 2 <= count_dynamodb_calls.count("UpdateItem") <= 1 + 2
    assert set(count_dynamodb_calls) == {"TransactWriteItems", "GetItem", "UpdateItem"}
    assert sorted(sent_230(stack)) == sorted(f"86{n}" for n in numbers)
    seen = view(invoke, campaign_id)
    assert seen["state"] == "done" and seen["provider_requests"] == 10
    assert (seen["counts"]["submitted"], seen["chunks"]) == (20, {"total": 10, "done": 10})
    requests = [r for r in stack.requests() if r["request_id"] == campaign_id]
    assert sorted(n for r in requests for n in r["numbers"].split()) == sorted(f"+86{n}" for n in numbers)


def test_a_batch_mixing_finished_new_and_cancelled_chunks_sends_only_the_new(
    stack: Stack, invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One intent transaction refused for one chunk (already begun) or one campaign (cancelled)
    still begins the others; a second copy of a chunk in the same batch is not sent."""
    monkeypatch.setenv("SMS230_BATCH_SIZE", "2")
    campaign_id, chunks = planned(stack, invoke, [f"1380014{n:04d}" for n in range(6)])
    other_id, others = planned(stack, invoke, [f"1380015{n:04d}" for n in range(4)])
    sender = load_handler("campaign_sender")
    assert sender.lambda_handler(sqs_event("arn:chunks", chunks[:1]), context(60))["batchItemFailures"] == []
    assert body(cancel(invoke, other_id))["state"] == "cancelled"
    chunk_sender()._seen.clear()  # a fresh container: it sees the cancel before the intent does
    copy = {**chunks[1], "MessageId": "a-second-copy"}  # SQS may hand one message twice in a batch
    batch = [*chunks, copy, *others]
    assert sender.lambda_handler(sqs_event("arn:chunks", batch), context(60))["batchItemFailures"] == []
    assert len(stack.sms230.recorded(SEND)) == 3  # each of the first campaign's chunks, once
    assert sorted(sent_230(stack)) == sorted(f"861380014{n:04d}" for n in range(6))
    assert view(invoke, campaign_id)["counts"]["submitted"] == 6
    assert view(invoke, other_id)["counts"]["submitted"] == 0


def test_a_chunk_that_breaks_leaves_the_rest_of_its_batch_recorded(
    stack: Stack, invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMS230_BATCH_SIZE", "2")
    campaign_id, chunks = planned(stack, invoke, [f"1380016{n:04d}" for n in range(6)])
    real = dispatch.dispatch_and_describe

    def second_breaks(request: Any, recipients: Any, *args: Any) -> Any:
        if recipients[0].national == "13800160002":
            raise RuntimeError("a bug")
        return real(request, recipients, *args)

    monkeypatch.setattr(chunk_sender(), "dispatcher", second_breaks)
    clock = Clock("2026-12-01T10:00:00")
    campaigns().clock = chunk_sender().clock = clock
    sender = load_handler("campaign_sender")
    failed = sender.lambda_handler(sqs_event("arn:chunks", chunks), context(60))["batchItemFailures"]
    broken = next(c for c in chunks if "+8613800160002" in c["Body"])
    assert [f["itemIdentifier"] for f in failed] == [broken["MessageId"]]
    assert view(invoke, campaign_id)["counts"]["submitted"] == 4
    monkeypatch.setattr(chunk_sender(), "dispatcher", real)
    clock.to("2026-12-01T10:01:31")  # its copy, past IN_FLIGHT_SECONDS: unknown, not sent
    assert sender.lambda_handler(sqs_event("arn:chunks", [broken]), context(60))["batchItemFailures"] == []
    seen = view(invoke, campaign_id)
    assert (seen["counts"]["submitted"], seen["counts"]["unknown"], seen["state"]) == (4, 2, "done")
    assert len(stack.sms230.recorded(SEND)) == 2


def test_a_message_that_is_not_a_chunk_is_reported_alone(stack: Stack, invoke: Invoke) -> None:
    campaign_id, (chunk,) = planned(stack, invoke, ["13800170000"])
    junk = {**chunk, "MessageId": "junk", "Body": "{not json"}
    sender = load_handler("campaign_sender")
    failed = sender.lambda_handler(sqs_event("arn:chunks", [junk, chunk]), context(60))["batchItemFailures"]
    assert failed == [{"itemIdentifier": "junk"}]
    assert view(invoke, campaign_id)["state"] == "done"


def test_senders_start_while_the_list_is_still_being_read_and_the_planner_closes_the_campaign(
    stack: Stack, invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunks go to the queue as the list is read, ten at a time: here every one is sent before the
    planner has read the rest. No sender may close the campaign before the list is read whole; the
    planner, finding every chunk done, closes it."""
    monkeypatch.setenv("SMS230_BATCH_SIZE", "2")
    numbers = [f"1380018{n:04d}" for n in range(50)]  # 25 chunks: three SendMessageBatch calls
    campaign_id = body(create(invoke, {"content": "hi", "kind": "notification", "to": numbers}))[
        "campaign_id"
    ]
    sqs = boto3.client("sqs")
    service = planner()
    sender = load_handler("campaign_sender")
    states: list[str] = []
    real_batch = service.sqs.send_message_batch

    def then_send_at_once(**kwargs: Any) -> Any:
        answer = real_batch(**kwargs)
        got = sqs.receive_message(QueueUrl=stack.env["CAMPAIGN_QUEUE_URL"], MaxNumberOfMessages=10)[
            "Messages"
        ]
        assert sender.lambda_handler(sqs_event("arn:chunks", got), context(60))["batchItemFailures"] == []
        states.append(view(invoke, campaign_id)["state"])
        return answer

    monkeypatch.setattr(service.sqs, "send_message_batch", then_send_at_once)
    plan = sqs.receive_message(QueueUrl=stack.env["CAMPAIGN_PLAN_QUEUE_URL"])["Messages"]
    load_handler("campaign_planner").lambda_handler(sqs_event("arn:plan", plan), context(60))
    assert states == ["running", "running", "running"]
    seen = view(invoke, campaign_id)
    assert seen["state"] == "done" and seen["chunks"] == {"total": 25, "done": 25}
    assert seen["counts"]["submitted"] == 50 and sorted(sent_230(stack)) == sorted(f"86{n}" for n in numbers)


def test_no_sender_outlives_the_age_after_which_a_marker_means_it_died(stack: Stack) -> None:
    sender = tpl.functions(stack.template)["CampaignSenderFunction"]
    assert float(sender.timeout) < IN_FLIGHT_SECONDS


class Clock:
    def __init__(self, beijing: str) -> None:
        self.now = (datetime.fromisoformat(beijing) - timedelta(hours=8)).replace(tzinfo=UTC).timestamp()

    def __call__(self) -> float:
        return self.now

    def to(self, beijing: str) -> None:
        self.now = (datetime.fromisoformat(beijing) - timedelta(hours=8)).replace(tzinfo=UTC).timestamp()


def test_a_marketing_campaign_pauses_at_21_and_resumes_at_8_beijing_time(
    stack: Stack, invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMS230_BATCH_SIZE", "2")
    clock = Clock("2026-12-01T20:59:00")
    campaigns().clock = chunk_sender().clock = clock
    numbers = [f"1380013800{n}" for n in range(4)]
    campaign_id = body(create(invoke, {"content": "sale", "kind": "marketing", "to": numbers}))["campaign_id"]
    sqs = boto3.client("sqs")
    sender = load_handler("campaign_sender")
    plan = sqs.receive_message(QueueUrl=stack.env["CAMPAIGN_PLAN_QUEUE_URL"])["Messages"]
    load_handler("campaign_planner").lambda_handler(sqs_event("arn:plan", plan), context(60))
    chunks = sqs.receive_message(QueueUrl=stack.env["CAMPAIGN_QUEUE_URL"], MaxNumberOfMessages=10)["Messages"]
    assert len(chunks) == 2
    assert sender.lambda_handler(sqs_event("arn:chunks", chunks[:1]), context(60))["batchItemFailures"] == []
    clock.to("2026-12-01T21:00:30")
    failures = sender.lambda_handler(sqs_event("arn:chunks", chunks[1:]), context(60))["batchItemFailures"]
    assert [f["itemIdentifier"] for f in failures] == [chunks[1]["MessageId"]]
    assert view(invoke, campaign_id)["state"] == "paused"
    assert len(stack.sms230.recorded(SEND)) == 1
    clock.to("2026-12-02T07:59:59")
    assert sender.lambda_handler(sqs_event("arn:chunks", chunks[1:]), context(60))["batchItemFailures"]
    clock.to("2026-12-02T08:00:05")
    assert sender.lambda_handler(sqs_event("arn:chunks", chunks[1:]), context(60))["batchItemFailures"] == []
    seen = view(invoke, campaign_id)
    assert seen["state"] == "done" and seen["counts"]["submitted"] == 4
    assert len(stack.sms230.recorded(SEND)) == 2


def test_the_window_is_reckoned_in_beijing_time_whatever_the_clock_zone() -> None:
    window = (8 * 60, 21 * 60)
    at = datetime.fromisoformat
    assert closed_for(at("2026-12-01T12:59:59+00:00"), window) == 0  # 20:59:59 in Beijing
    assert closed_for(at("2026-12-01T13:00:00+00:00"), window) == 11 * 3600  # 21:00 -> 08:00
    assert closed_for(at("2026-12-01T05:00:00-08:00"), window) == 11 * 3600 - 0  # 21:00 Beijing too
    assert closed_for(at("2026-12-01T23:30:00+00:00"), window) == 30 * 60  # 07:30 in Beijing
    assert closed_for(at("2026-12-02T00:00:00+00:00"), window) == 0  # 08:00 opens


def test_a_cancelled_campaign_sends_nothing_more(stack: Stack, invoke: Invoke) -> None:
    numbers = [f"1380013{n:04d}" for n in range(10)]
    campaign_id = body(create(invoke, {"content": "hi", "kind": "notification", "to": numbers}))[
        "campaign_id"
    ]
    assert body(cancel(invoke, campaign_id)) == {"campaign_id": campaign_id, "state": "cancelled"}
    assert drain(stack) == []
    assert sent_230(stack) == []
    assert view(invoke, campaign_id)["state"] == "cancelled"
    assert cancel(invoke, campaign_id)["statusCode"] == 409


def test_a_cancel_stops_a_sender_whose_view_of_the_campaign_is_older(
    stack: Stack, invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sender keeps its campaign for a second; a cancel within it is enforced by the intent's
    condition, not by that view."""
    monkeypatch.setenv("SMS230_BATCH_SIZE", "2")
    campaigns().clock = chunk_sender().clock = Clock("2026-12-01T10:00:00")  # frozen: the view never ages
    numbers = [f"1380013900{n}" for n in range(4)]
    campaign_id = body(create(invoke, {"content": "hi", "kind": "notification", "to": numbers}))[
        "campaign_id"
    ]
    sqs = boto3.client("sqs")
    sender = load_handler("campaign_sender")
    plan = sqs.receive_message(QueueUrl=stack.env["CAMPAIGN_PLAN_QUEUE_URL"])["Messages"]
    load_handler("campaign_planner").lambda_handler(sqs_event("arn:plan", plan), context(60))
    chunks = sqs.receive_message(QueueUrl=stack.env["CAMPAIGN_QUEUE_URL"], MaxNumberOfMessages=10)["Messages"]
    assert sender.lambda_handler(sqs_event("arn:chunks", chunks[:1]), context(60))["batchItemFailures"] == []
    assert chunk_sender()._seen[campaign_id][1]["state"] == "running"  # the view the next chunk gets
    assert body(cancel(invoke, campaign_id))["state"] == "cancelled"
    assert sender.lambda_handler(sqs_event("arn:chunks", chunks[1:]), context(60))["batchItemFailures"] == []
    assert len(stack.sms230.recorded(SEND)) == 1  # the second chunk never reached the provider
    seen = view(invoke, campaign_id)
    assert seen["state"] == "cancelled" and seen["counts"]["submitted"] == 2


def test_a_campaign_with_send_at_is_scheduled_and_its_schedule_goes_with_a_cancel(
    stack: Stack, invoke: Invoke
) -> None:
    later = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    created = create(
        invoke, {"content": "hi", "kind": "notification", "to": ["13800138000"], "send_at": later.isoformat()}
    )
    campaign_id = body(created)["campaign_id"]
    assert body(created)["state"] == "scheduled"
    scheduler = boto3.client("scheduler")
    schedule = scheduler.get_schedule(Name=campaign_id, GroupName="default")
    assert schedule["ScheduleExpression"] == f"at({later.strftime('%Y-%m-%dT%H:%M:%S')})"
    assert schedule["Target"]["Arn"] == stack.env["CAMPAIGN_PLAN_QUEUE_ARN"]
    assert json.loads(schedule["Target"]["Input"]) == {"campaign_id": campaign_id}
    assert drain(stack) == [] and sent_230(stack) == []  # nothing before its time
    cancel(invoke, campaign_id)
    with pytest.raises(scheduler.exceptions.ResourceNotFoundException):
        scheduler.get_schedule(Name=campaign_id, GroupName="default")


@pytest.mark.parametrize(
    ("payload", "fields"),
    [
        ({"content": "hi", "kind": "spam"}, {"kind"}),
        ({"content": "", "kind": "marketing"}, {"content"}),
        ({"content": "hi", "kind": "marketing", "send_at": "2026-12-01T10:00:00"}, {"send_at"}),
        ({"content": "hi", "kind": "marketing", "to": "13800138000"}, {"to"}),
        ({"content": "hi", "kind": "marketing", "provider": "nope", "colour": 1}, {"provider", "colour"}),
    ],
)
def test_a_bad_campaign_request_names_its_fields_and_creates_nothing(
    stack: Stack, invoke: Invoke, payload: dict[str, Any], fields: set[str]
) -> None:
    answer = create(invoke, payload)
    assert answer["statusCode"] == 422
    assert {f["field"] for f in body(answer)["error"]["fields"]} == fields
    assert not [i for i in stack.all_items() if str(i["pk"]).startswith("campaign#")]


def test_another_tenant_cannot_see_or_stop_a_campaign(stack: Stack, invoke: Invoke) -> None:
    campaign_id = body(create(invoke, {"content": "hi", "kind": "notification"}))["campaign_id"]
    path = f"/sms/campaigns/{campaign_id}"
    for method in ("GET", "DELETE"):
        other = api_event(method, "/sms/campaigns/{id}", path, {"id": campaign_id})
        other["requestContext"]["identity"]["apiKeyId"] = "someone-else"
        assert invoke("campaigns", other)["statusCode"] == 404
    assert view(invoke, campaign_id)["state"] == CampaignState.DRAFT


def test_the_planner_cuts_chunks_without_reading_a_provider_secret(stack: Stack, invoke: Invoke) -> None:
    """The planner's grants name no provider secret: the chunk size comes from settings alone."""
    secrets = boto3.client("secretsmanager")
    for name in ("CMESSAGES_SECRET_ID", "SMS230_SECRET_ID"):
        secrets.delete_secret(SecretId=stack.env[name], ForceDeleteWithoutRecovery=True)
    reset_caches()
    _, chunks = planned(stack, invoke, [f"1380019{n:04d}" for n in range(3)])
    assert [json.loads(c["Body"])["numbers"] for c in chunks] == [[f"+861380019{n:04d}" for n in range(3)]]


def test_a_campaign_and_its_chunk_markers_expire_with_its_messages(stack: Stack, invoke: Invoke) -> None:
    """Its content is kept no longer than the messages it sent (RETENTION_DAYS)."""
    numbers = [f"1380020{n:04d}" for n in range(3)]
    campaign_id = body(create(invoke, {"content": "hi", "kind": "notification", "to": numbers}))[
        "campaign_id"
    ]
    drain(stack)
    assert view(invoke, campaign_id)["state"] == "done"
    mine = [i for i in stack.all_items() if i["pk"] == f"campaign#{campaign_id}"]
    assert {str(i["sk"]).split("#")[0] for i in mine} == {"CAMPAIGN", "chunk"}
    retention = int(stack.env["RETENTION_DAYS"]) * 86400
    for item in mine:
        assert 0 < int(item["expires_at"]) - time.time() <= retention, item["sk"]


def test_an_upload_after_start_changes_nothing_that_is_sent(stack: Stack, invoke: Invoke) -> None:
    """The presigned PUT lasts an hour and binds no size: the list as checked at start is copied
    aside, and the planner reads that copy, never a later upload (larger than the cap, or other
    numbers)."""
    campaign_id = body(create(invoke, {"content": "hi", "kind": "notification"}))["campaign_id"]
    upload(stack, campaign_id, "13800210000\n13800210001\n")
    assert start(invoke, campaign_id)["statusCode"] == 202
    upload(stack, campaign_id, "13800219999\n" * 300_000)  # after start: 3.6 MB of another number
    assert drain(stack) == []
    assert sorted(sent_230(stack)) == ["8613800210000", "8613800210001"]
    assert view(invoke, campaign_id)["counts"]["total"] == 2


def test_a_campaign_an_earlier_release_started_is_planned_from_its_upload(
    stack: Stack, invoke: Invoke
) -> None:
    """Started before the list was copied aside at start: its item names no list, and its upload is it."""
    campaign_id = body(create(invoke, {"content": "hi", "kind": "notification"}))["campaign_id"]
    upload(stack, campaign_id, "13800220000\n13800220001\n")
    boto3.resource("dynamodb").Table(stack.env["MESSAGES_TABLE"]).update_item(
        Key={"pk": f"campaign#{campaign_id}", "sk": "CAMPAIGN"},
        UpdateExpression="SET #s = :running",
        ExpressionAttributeNames={"#s": "state"},
        ExpressionAttributeValues={":running": "running"},
    )
    boto3.client("sqs").send_message(
        QueueUrl=stack.env["CAMPAIGN_PLAN_QUEUE_URL"], MessageBody=json.dumps({"campaign_id": campaign_id})
    )
    assert drain(stack) == []
    assert sorted(sent_230(stack)) == ["8613800220000", "8613800220001"]
