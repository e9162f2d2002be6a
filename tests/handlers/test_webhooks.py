"""Webhooks, handler by handler against Moto: endpoints and their secrets (KMS), events from the
messages table's real stream records, and the dispatcher POSTing to a receiver on loopback that
verifies each delivery with the reference `standardwebhooks` library."""

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from local_stack import resources
from local_stack.lambdas import reset_caches
from smsgw.delivery import polling
from smsgw.webhooks.endpoints import endpoints
from tests.handlers.conftest import Invoke, Stack, api_event, body, event
from tests.handlers.test_callback import receipt_event, taskid_of
from tests.handlers.test_campaign_progress import stream_batch
from tests.handlers.test_campaigns import drain as run_campaign
from tests.handlers.test_tenants import as_key
from tests.handlers.test_verification import sent_code
from tests.webhook_receiver import Receiver

NUMBER = "+8613900139001"


@pytest.fixture
def receiver(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    monkeypatch.setenv("WEBHOOK_ALLOW_LOOPBACK", "true")  # as the local stack deploys it
    reset_caches()
    found = Receiver()
    yield found
    found.close()


def call(
    invoke: Invoke, method: str, path: str, payload: Any = None, key_id: str = "key-a"
) -> dict[str, Any]:
    resource = path
    for part in path.split("/"):
        if part.startswith("ep_"):
            resource = resource.replace(part, "{id}")
    params = {"id": next((p for p in path.split("/") if p.startswith("ep_")), "")} if "ep_" in path else None
    return invoke("webhooks", as_key(api_event(method, resource, path, params, payload), key_id))


def registered(invoke: Invoke, receiver: Receiver, **fields: Any) -> str:
    answer = call(invoke, "POST", "/webhooks/endpoints", {"url": receiver.url, **fields})
    assert answer["statusCode"] == 201, answer
    receiver.secrets.append(body(answer)["secret"])
    return str(body(answer)["endpoint_id"])


def stream_records(stack: Stack) -> list[dict[str, Any]]:
    return stream_batch(stack, "WebhookEventsFunction")


def dispatch(stack: Stack, invoke: Invoke) -> int:
    """One receive of the webhook queue handed to the dispatcher, as Lambda's SQS source does; how many."""
    sqs = boto3.client("sqs")
    queue = stack.env["WEBHOOK_QUEUE_URL"]
    got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, AttributeNames=["All"])
    messages = got.get("Messages", [])
    if not messages:
        return 0
    records = [
        {
            "messageId": m["MessageId"],
            "receiptHandle": m["ReceiptHandle"],
            "body": m["Body"],
            "attributes": m["Attributes"],
            "eventSource": "aws:sqs",
        }
        for m in messages
    ]
    failed = {
        f["itemIdentifier"] for f in invoke("webhook_dispatcher", {"Records": records})["batchItemFailures"]
    }
    for m in messages:
        if m["MessageId"] not in failed:
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])
    return len(messages)


def receipt(invoke: Invoke, message: dict[str, Any]) -> None:
    invoke("callback", receipt_event(taskid=taskid_of(message["message_id"]), mobile=NUMBER[1:]))


def delivered_once(stack: Stack, invoke: Invoke) -> dict[str, Any]:
    """A message of key-a's tenant sent and its receipt taken; its status change turned into events."""
    sent = invoke("send", as_key(event("send", {"to": [NUMBER], "content": "hi"}), "key-a"))
    message: dict[str, Any] = body(sent)["messages"][0]
    receipt(invoke, message)
    assert invoke("webhook_events", {"Records": stream_records(stack)})["events"] == 1
    return message


def test_an_endpoint_is_made_shown_rotated_and_deleted(
    stack: Stack, invoke: Invoke, receiver: Receiver
) -> None:
    endpoint_id = registered(invoke, receiver, description="crm")
    shown = body(call(invoke, "GET", f"/webhooks/endpoints/{endpoint_id}"))
    assert shown["url"] == receiver.url and shown["enabled"] and "secret" not in shown
    assert call(invoke, "GET", f"/webhooks/endpoints/{endpoint_id}", key_id="key-b")["statusCode"] == 404
    stored = json.dumps(boto3.client("dynamodb").scan(TableName=stack.env["WEBHOOKS_TABLE"])["Items"])
    assert receiver.secrets[0] not in stored and receiver.secrets[0].removeprefix("whsec_") not in stored
    rotated = body(call(invoke, "POST", f"/webhooks/endpoints/{endpoint_id}/rotate-secret"))
    assert rotated["secret"] != receiver.secrets[0] and rotated["previous_signs_for_seconds"] == 86400
    assert [e["endpoint_id"] for e in body(call(invoke, "GET", "/webhooks/endpoints"))["endpoints"]] == [
        endpoint_id
    ]
    assert call(invoke, "DELETE", f"/webhooks/endpoints/{endpoint_id}")["statusCode"] == 200
    assert body(call(invoke, "GET", "/webhooks/endpoints"))["endpoints"] == []


def test_a_bad_endpoint_is_refused_field_by_field(stack: Stack, invoke: Invoke) -> None:
    answer = call(
        invoke, "POST", "/webhooks/endpoints", {"url": "http://hooks.example.com", "event_types": []}
    )
    assert answer["statusCode"] == 422
    assert {e["field"] for e in body(answer)["error"]["fields"]} == {"url", "event_types"}
    assert body(call(invoke, "GET", "/webhooks/endpoints"))["endpoints"] == []


def test_a_receipt_reaches_the_receiver_signed_once(stack: Stack, invoke: Invoke, receiver: Receiver) -> None:
    registered(invoke, receiver)
    message = delivered_once(stack, invoke)
    assert dispatch(stack, invoke) == 1
    (got,) = receiver.got
    assert got["verified"] == receiver.secrets and got["status"] == 200
    assert got["body"]["type"] == "message.delivered"
    data = got["body"]["data"]
    assert (data["message_id"], data["to"], data["status"], data["final"]) == (
        message["message_id"],
        NUMBER,
        "delivered",
        True,
    )
    assert data["sequence"] == 1 and data["provider_status"] == "DELIVRD"
    invoke(
        "callback", receipt_event(taskid=taskid_of(message["message_id"]), mobile=NUMBER.removeprefix("+"))
    )
    assert invoke("webhook_events", {"Records": stream_records(stack)})["events"] == 1  # the repeat made none
    assert (
        dispatch(stack, invoke) == 1 and receiver.got[1]["id"] == got["id"]
    )  # the same batch again: same id


def test_a_receiver_that_fails_twice_gets_the_event_once_as_a_2xx(
    stack: Stack, invoke: Invoke, receiver: Receiver
) -> None:
    endpoint_id = registered(invoke, receiver)
    receiver.answers = [503, 503]
    delivered_once(stack, invoke)
    assert dispatch(stack, invoke) == 1  # 503: tried again at once
    assert dispatch(stack, invoke) == 1  # 503: tried again after 5 s
    assert dispatch(stack, invoke) == 0
    time.sleep(5.6)
    assert dispatch(stack, invoke) == 1
    assert [g["status"] for g in receiver.got] == [503, 503, 200]
    assert len({g["id"] for g in receiver.got}) == 1  # one event id, every attempt
    attempts = body(call(invoke, "GET", f"/webhooks/endpoints/{endpoint_id}/deliveries"))["deliveries"]
    assert sorted(a["attempt"] for a in attempts) == [1, 2, 3]
    assert sorted(a["status_code"] for a in attempts) == [200, 503, 503]
    assert dispatch(stack, invoke) == 0


def test_410_disables_the_endpoint(stack: Stack, invoke: Invoke, receiver: Receiver) -> None:
    endpoint_id = registered(invoke, receiver)
    receiver.answers = [410]
    delivered_once(stack, invoke)
    assert dispatch(stack, invoke) == 1
    shown = body(call(invoke, "GET", f"/webhooks/endpoints/{endpoint_id}"))
    assert not shown["enabled"] and "410" in shown["disabled_reason"]
    assert dispatch(stack, invoke) == 0


def test_during_a_rotation_each_delivery_verifies_with_either_secret(
    stack: Stack, invoke: Invoke, receiver: Receiver
) -> None:
    endpoint_id = registered(invoke, receiver)
    receiver.secrets.append(
        body(call(invoke, "POST", f"/webhooks/endpoints/{endpoint_id}/rotate-secret"))["secret"]
    )
    assert call(invoke, "POST", f"/webhooks/endpoints/{endpoint_id}/test")["statusCode"] == 202
    assert dispatch(stack, invoke) == 1
    (got,) = receiver.got
    assert got["body"]["type"] == "webhook.test" and sorted(got["verified"]) == sorted(receiver.secrets)


def test_a_tenant_without_endpoints_costs_no_delivery(stack: Stack, invoke: Invoke) -> None:
    delivered_once(stack, invoke)
    assert invoke("webhook_events", {"Records": stream_records(stack)})["queued"] == 0


def test_recover_resends_what_a_disabled_endpoint_never_took(
    stack: Stack, invoke: Invoke, receiver: Receiver
) -> None:
    endpoint_id = registered(invoke, receiver)
    receiver.answers = [410]
    delivered_once(stack, invoke)
    assert dispatch(stack, invoke) == 1  # 410: disabled, the event kept
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 60))
    refused = call(invoke, "POST", f"/webhooks/endpoints/{endpoint_id}/recover", {"since": "yesterday"})
    assert refused["statusCode"] == 422 and body(refused)["error"]["fields"][0]["field"] == "since"
    answer = call(invoke, "POST", f"/webhooks/endpoints/{endpoint_id}/recover", {"since": since})
    assert (answer["statusCode"], body(answer)["queued"]) == (202, 1)
    assert body(call(invoke, "GET", f"/webhooks/endpoints/{endpoint_id}"))["enabled"]
    assert dispatch(stack, invoke) == 1
    assert [g["status"] for g in receiver.got] == [410, 200]
    assert receiver.got[0]["id"] == receiver.got[1]["id"] and receiver.got[1]["verified"] == receiver.secrets


def test_an_endpoint_failing_for_five_days_is_disabled(
    stack: Stack, invoke: Invoke, receiver: Receiver
) -> None:
    endpoint_id = registered(invoke, receiver)
    receiver.answers = [500, 500]
    delivered_once(stack, invoke)
    assert dispatch(stack, invoke) == 1  # the first failure: failing since now
    table = boto3.resource("dynamodb").Table(stack.env["WEBHOOKS_TABLE"])
    (item,) = [i for i in table.scan()["Items"] if i["sk"] == f"ep#{endpoint_id}"]
    assert int(item["failing_since"]) >= int(time.time()) - 5
    table.update_item(
        Key={"pk": item["pk"], "sk": item["sk"]},
        UpdateExpression="SET failing_since = :then",
        ExpressionAttributeValues={":then": int(time.time()) - 5 * 86400 - 1},
    )
    assert dispatch(stack, invoke) == 1  # still failing, five days on: disabled
    shown = body(call(invoke, "GET", f"/webhooks/endpoints/{endpoint_id}"))
    assert not shown["enabled"] and "5 days" in shown["disabled_reason"]
    assert dispatch(stack, invoke) == 0


def test_a_delivery_clears_the_failing_mark(stack: Stack, invoke: Invoke, receiver: Receiver) -> None:
    endpoint_id = registered(invoke, receiver)
    receiver.answers = [503]
    delivered_once(stack, invoke)
    assert dispatch(stack, invoke) == 1 and dispatch(stack, invoke) == 1
    table = boto3.resource("dynamodb").Table(stack.env["WEBHOOKS_TABLE"])
    (item,) = [i for i in table.scan()["Items"] if i["sk"] == f"ep#{endpoint_id}"]
    assert "failing_since" not in item


def test_a_sends_status_callback_gets_its_events_signed_with_the_tenants_secret(
    stack: Stack, invoke: Invoke, receiver: Receiver
) -> None:
    def send(payload: dict[str, Any]) -> dict[str, Any]:
        return invoke("send", as_key(event("send", {"to": [NUMBER], "content": "hi", **payload}), "key-a"))

    own = Receiver()
    try:
        refused = send({"status_callback": own.url})
        assert (
            refused["statusCode"] == 422
            and "webhook endpoint" in body(refused)["error"]["fields"][0]["message"]
        )
        bad = send({"status_callback": "http://hooks.example.com/cb"})
        assert body(bad)["error"]["fields"][0]["field"] == "status_callback"
        assert stack.sms230.recorded("/outauth/send") == []  # neither reached the provider
        registered(invoke, receiver, event_types=["message.failed"])  # not delivered: only the callback
        own.secrets = receiver.secrets
        message = body(send({"status_callback": own.url}))["messages"][0]
        receipt(invoke, message)
        assert invoke("webhook_events", {"Records": stream_records(stack)})["queued"] == 1
        assert dispatch(stack, invoke) == 1
        (got,) = own.got
        assert (
            got["verified"] == receiver.secrets and got["body"]["data"]["message_id"] == message["message_id"]
        )
        assert receiver.got == []
    finally:
        own.close()


def events_of(receiver: Receiver) -> list[tuple[str, dict[str, Any]]]:
    return [(g["body"]["type"], g["body"]["data"]) for g in receiver.got]


def drain(stack: Stack, invoke: Invoke) -> None:
    while dispatch(stack, invoke):
        pass


def test_messages_still_open_when_their_request_closes_turn_unknown(
    stack: Stack, invoke: Invoke, receiver: Receiver
) -> None:
    registered(invoke, receiver)
    stack.cm.status_delays = (3600.0, 7200.0)  # no news within the window
    numbers = ["+8613900139002", "+8613900139003"]
    sent = invoke(
        "send", as_key(event("send", {"to": numbers, "content": "x", "provider": "cmessages"}), "key-a")
    )
    ids = {m["message_id"] for m in body(sent)["messages"]}
    polling.poll(datetime.now(UTC) + timedelta(hours=73))  # past the receipt window: closed
    assert invoke("webhook_events", {"Records": stream_records(stack)})["events"] == 2
    drain(stack, invoke)
    got = events_of(receiver)
    assert {t for t, _ in got} == {"message.unknown"}
    assert {d["message_id"] for _, d in got} == ids and all(d["final"] for _, d in got)


def test_a_campaign_tells_when_it_starts_and_when_it_is_cancelled(
    stack: Stack, invoke: Invoke, receiver: Receiver
) -> None:
    registered(invoke, receiver)
    resources.create_buckets(stack.template, boto3.client("s3"))
    spec = {"content": "News", "kind": "notification", "to": ["+8613900139004"], "provider": "230sms"}
    create = api_event("POST", "/sms/campaigns", "/sms/campaigns", None, spec)
    campaign_id = body(invoke("campaigns", as_key(create, "key-a")))["campaign_id"]
    path = f"/sms/campaigns/{campaign_id}"
    cancel = api_event("DELETE", "/sms/campaigns/{id}", path, {"id": campaign_id})
    invoke("campaigns", as_key(cancel, "key-a"))
    invoke("webhook_events", {"Records": stream_records(stack)})
    drain(stack, invoke)
    got = events_of(receiver)
    assert [t for t, _ in got] == ["campaign.started", "campaign.cancelled"]
    assert {d["campaign_id"] for _, d in got} == {campaign_id}


def test_a_verification_tells_when_it_is_approved(stack: Stack, invoke: Invoke, receiver: Receiver) -> None:
    registered(invoke, receiver, event_types=["verification.approved"])
    payload = {"to": NUMBER, "content": "【ACME】您的验证码是{code}，5分钟内有效"}
    asked = body(invoke("verify_code", as_key(event("verify_code", payload), "key-a")))
    checked = invoke(
        "verify_check", as_key(event("verify_check", {"to": NUMBER, "code": sent_code(stack)}), "key-a")
    )
    assert body(checked)["status"] == "approved"
    drain(stack, invoke)
    approved = {"verification_id": asked["verification_id"], "status": "approved"}
    assert events_of(receiver) == [("verification.approved", approved)]


def test_a_verification_tells_when_it_is_found_expired(
    stack: Stack, invoke: Invoke, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    registered(invoke, receiver, event_types=["verification.expired"])
    payload = {"to": NUMBER, "content": "【ACME】您的验证码是{code}，5分钟内有效"}
    asked = body(invoke("verify_code", as_key(event("verify_code", payload), "key-a")))
    check = as_key(event("verify_check", {"to": NUMBER, "code": sent_code(stack)}), "key-a")
    real = time.time
    with monkeypatch.context() as later:
        later.setattr(time, "time", lambda: real() + 601)  # past the code's 10 minutes
        assert body(invoke("verify_check", check))["status"] == "expired"
    drain(stack, invoke)
    expired = {"verification_id": asked["verification_id"], "status": "expired"}
    assert events_of(receiver) == [("verification.expired", expired)]


def test_a_campaign_tells_when_it_is_finished(stack: Stack, invoke: Invoke, receiver: Receiver) -> None:
    registered(invoke, receiver, event_types=["campaign.finished", "message.delivered"])
    resources.create_buckets(stack.template, boto3.client("s3"))
    spec = {"content": "News", "kind": "notification", "to": ["+8613900139005"], "provider": "230sms"}
    create = api_event("POST", "/sms/campaigns", "/sms/campaigns", None, spec)
    campaign_id = body(invoke("campaigns", as_key(create, "key-a")))["campaign_id"]
    assert run_campaign(stack) == []  # planner and sender, as their queues hand them work
    invoke("webhook_events", {"Records": stream_records(stack)})
    drain(stack, invoke)
    ((kind, data),) = events_of(receiver)
    assert (kind, data["campaign_id"], data["state"]) == ("campaign.finished", campaign_id, "done")
    assert data["counts"]["submitted"] == 1
    (request,) = [i for i in stack.requests() if i.get("request_id") == campaign_id]  # its one request
    invoke("callback", receipt_event(taskid=str(request["pk"]).rsplit("#", 1)[1], mobile="8613900139005"))
    invoke("webhook_events", {"Records": stream_records(stack)})
    drain(stack, invoke)
    (data,) = [d for kind, d in events_of(receiver) if kind == "message.delivered"]
    assert (data["campaign_id"], data["to"]) == (campaign_id, "+8613900139005")  # a campaign's message


def test_a_late_outcome_for_a_deleted_endpoint_writes_nothing(
    stack: Stack, invoke: Invoke, receiver: Receiver
) -> None:
    """A dispatcher that read the endpoint before its delete, and then notes a failure, a 410 or a
    rotation, must not bring back a partial endpoint (the list would then hold a broken one)."""
    endpoint_id = registered(invoke, receiver)
    store, table = endpoints(), boto3.resource("dynamodb").Table(stack.env["WEBHOOKS_TABLE"])
    (item,) = [i for i in table.scan()["Items"] if i["sk"] == f"ep#{endpoint_id}"]
    seen = store.get(str(item["tenant"]), endpoint_id)
    assert call(invoke, "DELETE", f"/webhooks/endpoints/{endpoint_id}")["statusCode"] == 200
    assert store.note_outcome(seen, delivered=False) is False
    store.disable(seen, "the receiver answered 410 Gone")
    assert call(invoke, "POST", f"/webhooks/endpoints/{endpoint_id}/rotate-secret")["statusCode"] == 404
    assert body(call(invoke, "GET", "/webhooks/endpoints"))["endpoints"] == []
    assert not [i for i in table.scan()["Items"] if str(i["sk"]).startswith("ep#")]
