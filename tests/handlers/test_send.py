"""POST /sms/send and POST /sms/verify-code through their handlers, Moto and the sandboxes."""

import pytest

from local_stack.events import status_event
from local_stack.lambdas import reset_caches
from smsgw.domain.numbers import number_key
from smsgw.platform import config
from smsgw.providers.model import provider_settings
from smsgw.storage.items import RequestItem
from tests.conftest import cn_numbers
from tests.handlers.conftest import Invoke, Stack, body, event


def test_send_sample_event_through_230sms(stack: Stack, invoke: Invoke) -> None:
    response = invoke("send", event("send"))
    assert response["statusCode"] == 200, response["body"]
    answer = body(response)
    assert answer["provider"] == "230sms"
    assert [m["to"] for m in answer["messages"]] == ["+8617072440811", "+8613800138000"]
    assert {m["status"] for m in answer["messages"]} == {"submitted"}
    (task,) = stack.sms230.tasks.values()
    assert task.mobiles == ["8617072440811", "8613800138000"]
    (item,) = stack.items()  # one item for the provider request, none per message
    assert (item["pk"], item["status"], item["provider_id"]) == (
        f"req#230sms#{task.taskid}",
        "submitted",
        str(task.taskid),
    )
    assert RequestItem.from_item(item).numbers == [m["to"] for m in answer["messages"]]
    assert item["pending_shard"].startswith("230sms#")
    assert item["expires_at"] > 0
    for message in answer["messages"]:
        assert message["message_id"].startswith(f"230-{task.taskid}-")
        shown = body(invoke("message_status", status_event(message["message_id"])))
        assert (shown["status"], shown["to"], shown["provider_id"]) == (
            "submitted",
            message["to"],
            str(task.taskid),
        )


def test_send_through_cmessages_records_one_item_per_provider_request(stack: Stack, invoke: Invoke) -> None:
    numbers = cn_numbers(250)
    response = invoke("send", event("send", {"to": numbers, "content": "hi", "provider": "cmessages"}))
    assert response["statusCode"] == 200
    answer = body(response)
    assert len(answer["messages"]) == 250 == len(stack.cm.messages)
    assert len(stack.cm.recorded("/sms/send_message")) == 3
    requests = stack.requests()
    assert sorted(len(RequestItem.from_item(i).numbers) for i in requests) == [50, 100, 100]
    assert {i for r in requests for i in RequestItem.from_item(r).provider_ids} == set(stack.cm.messages)
    assert len({m["message_id"] for m in answer["messages"]}) == 250
    assert len(stack.items()) == 3


def test_batch_writes_are_counted(stack: Stack, invoke: Invoke, count_dynamodb_calls: list[str]) -> None:
    invoke("send", event("send", {"to": cn_numbers(60), "content": "hi"}))
    invoke("send", event("send", {"to": cn_numbers(2500), "content": "hi"}))
    # Each: the blocklist (a small send reads its recipients' keys, 100 a read; a large one the
    # tenant's set alone, trusted from a fresh table's first moment), one quota transaction, asks for
    # places in the account's rate (UpdateItem: requests waiting together share one; a place granted
    # too late is asked again), and the provider requests' items (one per 1,000 numbers), 25 to a
    # batch write. The first also reads the API key's tenant, which the container then remembers.
    calls, asks = without_rate_asks(count_dynamodb_calls)
    assert calls == ["GetItem"] + ["BatchGetItem", "TransactWriteItems", "BatchWriteItem"] * 2
    assert len(asks) == 2 and min(asks) >= 1  # how many depends on timing: see test_account_rate


def test_the_largest_230sms_send_is_one_round_trip(
    stack: Stack, invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    """10,000 numbers are 10 requests, all in flight at once (SMS230_CONCURRENCY 10): the sandbox holds
    each until ten wait together. Eight at a time would never make ten, and the hold would give up."""
    monkeypatch.setenv("PROVIDER_READ_TIMEOUT", "15")  # above the hold, within the 29 s deadline
    reset_caches()
    gather = stack.sms230.faults.inject("gather", path="/outauth/send", together=10, seconds=8)
    response = invoke("send", event("send", {"to": cn_numbers(10_000), "content": "hi"}))
    assert response["statusCode"] == 200, response["body"][:300]
    assert len(stack.sms230.recorded("/outauth/send")) == 10
    assert not gather.scattered
    # A configured value wins over the provider's default, and must be a positive number.
    monkeypatch.setenv("SMS230_CONCURRENCY", "3")
    defaults = {"base_url": "", "batch_size": 1000, "requests_per_second": 95}
    chosen = provider_settings(config.settings(), "SMS230", **defaults, concurrency=10)
    assert chosen.concurrency == 3
    for wrong in ("0", "many"):
        monkeypatch.setenv("SMS230_CONCURRENCY", wrong)
        with pytest.raises(config.ConfigError, match="_CONCURRENCY"):
            provider_settings(config.settings(), "SMS230", **defaults)


def without_rate_asks(calls: list[str]) -> tuple[list[str], list[int]]:
    """The calls but the rate asks (UpdateItem), and each send's asks (after its quota transaction)."""
    asks: list[int] = []
    for call in calls:
        if call == "TransactWriteItems":
            asks.append(0)
        elif call == "UpdateItem":
            asks[-1] += 1
    return [c for c in calls if c != "UpdateItem"], asks


@pytest.mark.parametrize(
    ("payload", "fields"),
    [
        ({"to": ["12345"], "content": ""}, {"to[0]", "content"}),
        ({"content": "hi"}, {"to"}),
        ({"to": "17072440811", "content": "hi", "provider": "nope"}, {"provider"}),
        ({"to": "17072440811", "content": "hi", "colour": "red"}, {"colour"}),
        ({"to": "+14155552671", "content": "hi", "provider": "cmessages"}, {"to"}),
        ({"to": "17072440811", "content": "hi", "provider": "cmessages", "sender_id": "x"}, {"sender_id"}),
        ({"to": "17072440811", "content": "hi", "sender_id": 5}, {"sender_id"}),
        ([1, 2], {"body"}),
    ],
)
def test_bad_requests_are_422_with_fields_and_reach_no_provider(
    stack: Stack, invoke: Invoke, payload: object, fields: set[str]
) -> None:
    response = invoke("send", event("send", payload))
    assert response["statusCode"] == 422
    error = body(response)["error"]
    assert error["code"] == "validation_error"
    assert {f["field"] for f in error["fields"]} == fields
    assert stack.cm.requests == [] and stack.sms230.requests == []
    assert stack.items() == []


@pytest.mark.parametrize("raw", ["{not json", "", None])
def test_unreadable_body_is_422(stack: Stack, invoke: Invoke, raw: str | None) -> None:
    response = invoke("send", event("send", raw))
    assert response["statusCode"] == 422
    assert body(response)["error"]["fields"][0]["field"] == "body"


def test_sample_invalid_event(stack: Stack, invoke: Invoke) -> None:
    assert invoke("send", event("send_invalid"))["statusCode"] == 422


def test_provider_refusal_names_its_code_and_records_nothing(stack: Stack, invoke: Invoke) -> None:
    stack.cm.balance = 0
    response = invoke("send", event("send_cmessages"))
    assert response["statusCode"] == 502
    error = body(response)["error"]
    assert (error["code"], error["provider"], error["provider_code"]) == (
        "provider_rejected",
        "cmessages",
        "1009",
    )
    assert stack.items() == []


def test_content_refusal_is_422_naming_the_code(stack: Stack, invoke: Invoke) -> None:
    response = invoke(
        "send", event("send", {"to": "17072440811", "content": "敏感", "provider": "cmessages"})
    )
    assert response["statusCode"] == 422
    assert body(response)["error"]["provider_code"] == "1003"


def test_partial_refusal_records_only_the_accepted(stack: Stack, invoke: Invoke) -> None:
    stack.sms230.faults.inject("error_code", code=202, times=1)
    payload = {"to": cn_numbers(1500), "content": "hi", "provider": "230sms"}
    # Two chunks (1000 + 500) go out concurrently; exactly one of them is refused.
    response = invoke("send", event("send", payload))
    assert response["statusCode"] == 202
    answer = body(response)
    submitted = [m for m in answer["messages"] if m["status"] == "submitted"]
    rejected = [m for m in answer["messages"] if m["status"] == "rejected"]
    assert {len(submitted), len(rejected)} == {1000, 500}
    assert rejected[0]["error"]["provider_code"] == "202" and "message_id" not in rejected[0]
    assert sorted(stack.recorded_numbers()) == sorted(m["to"] for m in submitted)
    assert answer["summary"] == {
        "submitted": len(submitted),
        "unknown": 0,
        "rejected": len(rejected),
        "blocked": 0,
        "billed_segments": len(submitted),  # jfts: one segment per number taken
    }


def test_timeout_after_sending_is_recorded_unknown_and_not_resent(stack: Stack, invoke: Invoke) -> None:
    stack.sms230.faults.inject("timeout", seconds=3)
    response = invoke("send", event("send"))
    assert response["statusCode"] == 202
    answer = body(response)
    assert {m["status"] for m in answer["messages"]} == {"unknown"}
    assert len(stack.sms230.requests) == 1
    (item,) = stack.items()
    assert item["status"] == "unknown" and item["pk"].startswith("req#230sms#x")
    assert item["pending_shard"] == "230sms#unknown"  # to be reconciled by number
    status = invoke("message_status", status_event(answer["messages"][0]["message_id"]))
    assert body(status)["status"] == "unknown"


def test_unavailable_provider_is_503_with_retry_after(stack: Stack, invoke: Invoke) -> None:
    stack.cm.stop()
    response = invoke("send", event("send_cmessages"))
    assert response["statusCode"] == 503
    assert (
        response["multiValueHeaders"]["Retry-After"] == ["5"]
        or response.get("headers", {}).get("Retry-After") == "5"
    )
    assert body(response)["error"]["code"] == "provider_unavailable"
    assert stack.items() == []


def test_verify_code_sample_event(stack: Stack, invoke: Invoke) -> None:
    response = invoke("verify_code", event("verify_code"))
    assert response["statusCode"] == 200
    answer = body(response)
    assert (answer["provider"], answer["to"], answer["status"]) == ("230sms", "+8617072440811", "submitted")
    assert len(stack.sms230.recorded("/outauth/verifCodeSend")) == 1
    assert stack.items()[0]["kind"] == "verify"


def test_verify_code_through_cmessages(stack: Stack, invoke: Invoke) -> None:
    payload = {"to": "17072440811", "content": "code 1234", "provider": "cmessages"}
    answer = body(invoke("verify_code", event("verify_code", payload)))
    assert answer["message_id"] == f"cm-{next(iter(stack.cm.messages))}-{number_key('+8617072440811')}"


def test_verify_code_takes_one_number(stack: Stack, invoke: Invoke) -> None:
    response = invoke("verify_code", event("verify_code", {"to": ["17072440811"], "content": "c"}))
    assert response["statusCode"] == 422
    assert stack.sms230.requests == []


def test_verify_code_refusal(stack: Stack, invoke: Invoke) -> None:
    stack.sms230.verify_enabled = False
    response = invoke(
        "verify_code", event("verify_code", {"to": "17072440811", "content": "c", "provider": "230sms"})
    )
    assert response["statusCode"] == 502
    assert body(response)["error"]["provider_code"] == "106"
    assert stack.items() == []


def test_sender_id_follows_the_230sms_document(stack: Stack, invoke: Invoke) -> None:
    payload = {"to": "17072440811", "content": "hi", "sender_id": "1"}
    response = invoke("send", event("send", payload))
    assert response["statusCode"] == 422
    assert body(response)["error"]["fields"][0]["field"] == "sender_id"
    assert invoke("send", event("send", {**payload, "sender_id": "ACME1069"}))["statusCode"] == 200
    assert stack.sms230.recorded()[0].body["senderid"] == "ACME1069"


@pytest.mark.parametrize("recipients", [2, 2000])  # the write alone, and beside the message ids
def test_a_send_whose_record_fails_still_answers_every_recipient(
    stack: Stack, invoke: Invoke, monkeypatch: pytest.MonkeyPatch, recipients: int
) -> None:
    """The provider took them: failing now would invite a retry and a double send. The answer
    carries every line and says the statuses were not recorded."""
    monkeypatch.setenv("MESSAGES_TABLE", "no-such-table")
    reset_caches()
    response = invoke("send", event("send", {"to": cn_numbers(recipients), "content": "hi"}))
    assert response["statusCode"] == 200
    answer = body(response)
    assert answer["summary"]["submitted"] == recipients
    assert all(m["message_id"].startswith("230-") for m in answer["messages"])
    assert answer["warnings"] == [
        "the messages were sent but their status could not be recorded; status lookups may 404"
    ]
    assert len(stack.sms230.recorded("/outauth/send")) == -(-recipients // 1000)
