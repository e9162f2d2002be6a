"""Never double-send, never lose a receipt: idempotency, failover, abuse limits, blocklist, policy."""

import contextlib
import json
import threading
from typing import Any

import pytest

from smsgw.guards import limits
from smsgw.platform import config
from smsgw.sending import service
from tests.conftest import cn_numbers
from tests.handlers.conftest import Invoke, Stack, api_event, body, context, event, header, load_handler


def keyed(name: str, key: str, payload: Any = ...) -> dict[str, Any]:
    sample = event(name, payload)
    sample["headers"]["Idempotency-Key"] = key
    sample["multiValueHeaders"]["Idempotency-Key"] = [key]
    return sample


def reload_settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    config.settings.cache_clear()
    limits.limits.cache_clear()


# -- idempotency ----------------------------------------------------------------------------------


def test_retry_with_the_same_key_returns_the_first_answer_without_sending(
    stack: Stack, invoke: Invoke
) -> None:
    first = invoke("send", keyed("send", "order-42"))
    second = invoke("send", keyed("send", "order-42"))
    assert first["statusCode"] == second["statusCode"] == 200
    assert body(first) == body(second)
    assert len(stack.sms230.requests) == 1
    assert len(stack.recorded_numbers()) == 2


def test_the_key_is_per_operation(stack: Stack, invoke: Invoke) -> None:
    invoke("send", keyed("send", "k1"))
    invoke("verify_code", keyed("verify_code", "k1"))
    assert len(stack.sms230.requests) == 2


def test_same_key_with_another_body_is_refused(stack: Stack, invoke: Invoke) -> None:
    invoke("send", keyed("send", "order-43"))
    response = invoke("send", keyed("send", "order-43", {"to": "17072440811", "content": "other"}))
    assert response["statusCode"] == 422
    assert body(response)["error"]["code"] == "idempotency_key_reused"
    assert len(stack.sms230.requests) == 1


def test_request_in_progress_answers_409_with_retry_after(stack: Stack, invoke: Invoke) -> None:
    stack.sms230.faults.inject("delay", seconds=0.6, times=1)
    invoke("balance", event("balance"))  # warm caches outside the race
    first: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: first.update(invoke("send", keyed("send", "slow-1"))))
    thread.start()
    while not stack.sms230.requests:
        threading.Event().wait(0.01)
    second = load_handler("send").lambda_handler(keyed("send", "slow-1"), context())
    thread.join()
    assert second["statusCode"] == 409
    assert header(second, "Retry-After") == "2"
    assert first["statusCode"] == 200
    assert len(stack.sms230.requests) == 1


def test_failed_attempt_can_be_retried_with_the_same_key(stack: Stack, invoke: Invoke) -> None:
    stack.sms230.faults.inject("error_code", code=104, times=1)  # refused: nothing sent
    payload = {"to": "17072440811", "content": "hi", "provider": "230sms"}
    assert invoke("send", keyed("send", "retry-me", payload))["statusCode"] == 422
    assert invoke("send", keyed("send", "retry-me", payload))["statusCode"] == 200
    assert len(stack.sms230.tasks) == 1


class LambdaTimedOut(BaseException):
    """Lambda stops the process at its timeout; nothing after that runs (no finally, no cleanup)."""


def test_a_lambda_timeout_mid_send_ends_unknown_not_as_a_second_send(
    stack: Stack, invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Powertools issue #8049: the INPROGRESS record expires with the invocation, so the retry runs."""
    real_answer = service._record

    def killed_after_the_provider_call(*args: Any, **kwargs: Any) -> Any:
        raise LambdaTimedOut

    monkeypatch.setattr(service, "_record", killed_after_the_provider_call)
    monkeypatch.setattr(service, "_deadline", lambda caller: contextlib.nullcontext())  # not under test
    nearly_out_of_time = context(timeout_seconds=0.001)
    handler = load_handler("send")
    with pytest.raises(LambdaTimedOut):
        handler.lambda_handler(keyed("send", "order-44"), nearly_out_of_time)
    assert len(stack.sms230.tasks) == 1  # the provider did take it
    monkeypatch.setattr(service, "_record", real_answer)
    threading.Event().wait(0.01)  # past the in-progress expiry
    retry = handler.lambda_handler(keyed("send", "order-44"), context())
    assert retry["statusCode"] == 202
    answer = body(retry)
    assert {m["status"] for m in answer["messages"]} == {"unknown"}
    assert "nothing was sent again" in answer["warnings"][0]
    assert len(stack.sms230.tasks) == 1 and len(stack.sms230.requests) == 1


def test_invalid_idempotency_key_is_422(stack: Stack, invoke: Invoke) -> None:
    response = invoke("send", keyed("send", "has space"))
    assert response["statusCode"] == 422
    assert body(response)["error"]["fields"][0]["field"] == "Idempotency-Key"
    assert stack.sms230.requests == []


# -- failover -------------------------------------------------------------------------------------


def test_fails_over_when_the_first_provider_certainly_did_not_send(stack: Stack, invoke: Invoke) -> None:
    stack.sms230.faults.inject("error_code", code=202)  # balance insufficient
    response = invoke("send", event("send"))
    assert response["statusCode"] == 200
    answer = body(response)
    assert answer["provider"] == "cmessages"
    assert {m["provider"] for m in answer["messages"]} == {"cmessages"}
    (failover,) = answer["failover"]
    assert (failover["provider"], failover["error"]["provider_code"], failover["recipients"]) == (
        "230sms",
        "202",
        2,
    )
    assert len(stack.cm.messages) == 2 and not stack.sms230.tasks


def test_fails_over_when_the_first_provider_is_unreachable(stack: Stack, invoke: Invoke) -> None:
    stack.sms230.stop()
    answer = body(invoke("verify_code", event("verify_code")))
    assert (answer["provider"], answer["status"]) == ("cmessages", "submitted")
    assert answer["failover"][0]["error"]["code"] == "provider_unavailable"


def test_never_fails_over_after_an_unknown_outcome(stack: Stack, invoke: Invoke) -> None:
    stack.sms230.faults.inject("timeout", seconds=3)
    response = invoke("send", event("send"))
    assert response["statusCode"] == 202
    assert {m["status"] for m in body(response)["messages"]} == {"unknown"}
    assert stack.cm.requests == []


def test_never_fails_over_a_refusal_about_the_request(stack: Stack, invoke: Invoke) -> None:
    stack.sms230.faults.inject("error_code", code=104)  # number is wrong: cmessages would refuse too
    response = invoke("send", event("send"))
    assert response["statusCode"] == 422
    assert body(response)["error"]["provider_code"] == "104"
    assert stack.cm.requests == []


def test_when_every_provider_fails_the_answer_names_each(stack: Stack, invoke: Invoke) -> None:
    stack.sms230.faults.inject("error_code", code=202)
    stack.cm.balance = 0
    response = invoke("send", event("send"))
    assert response["statusCode"] == 502
    error = body(response)["error"]
    assert (error["provider"], error["provider_code"]) == ("cmessages", "1009")
    assert error["failover"][0]["error"]["provider_code"] == "202"
    assert stack.items() == []


def test_failover_takes_foreign_numbers_too(
    stack: Stack, invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    reload_settings(monkeypatch, ALLOWED_COUNTRIES="86,1")
    stack.sms230.faults.inject("error_code", code=201)  # no channel
    answer = body(invoke("send", event("send", {"to": ["+14155552671", "17072440811"], "content": "x"})))
    statuses = {m["to"]: (m["status"], m.get("provider")) for m in answer["messages"]}
    assert statuses == {
        "+8617072440811": ("submitted", "cmessages"),
        "+14155552671": ("submitted", "cmessages"),
    }
    assert stack.cm.recorded("/sms/send_message")[0].body["mobile"] == ["+14155552671", "17072440811"]


# -- abuse limits ---------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(stack: Stack) -> Clock:
    fake = Clock()
    limits.limits.cache_clear()
    limits.limits().clock = fake
    return fake


def test_verification_cooldown(stack: Stack, invoke: Invoke, clock: Clock) -> None:
    assert invoke("verify_code", event("verify_code"))["statusCode"] == 200
    clock.now += 30
    refused = invoke("verify_code", event("verify_code"))
    assert refused["statusCode"] == 429
    assert 1 <= int(header(refused, "Retry-After") or 0) <= 60
    assert body(refused)["error"]["code"] == "rate_limited"
    other = event("verify_code", {"to": "13800138000", "content": "code 1"})
    assert invoke("verify_code", other)["statusCode"] == 200
    clock.now += 31
    assert invoke("verify_code", event("verify_code"))["statusCode"] == 200
    assert len(stack.sms230.recorded("/outauth/verifCodeSend")) == 3


def test_verification_windows_per_10_minutes_and_per_day(stack: Stack, invoke: Invoke, clock: Clock) -> None:
    clock.now = 1_800_000_000 // 86400 * 86400 + 3600.0  # early in a day, at a 10-minute boundary
    for _ in range(5):
        assert invoke("verify_code", event("verify_code"))["statusCode"] == 200
        clock.now += 61
    refused = invoke("verify_code", event("verify_code"))
    assert refused["statusCode"] == 429 and "per 10 minutes" in body(refused)["error"]["message"]
    clock.now += 600
    for _ in range(5):
        assert invoke("verify_code", event("verify_code"))["statusCode"] == 200
        clock.now += 61
    clock.now += 600
    refused = invoke("verify_code", event("verify_code"))
    assert refused["statusCode"] == 429 and "per day" in body(refused)["error"]["message"]
    assert len(stack.sms230.recorded("/outauth/verifCodeSend")) == 10


def test_api_key_recipient_quota(
    stack: Stack, invoke: Invoke, monkeypatch: pytest.MonkeyPatch, clock: Clock
) -> None:
    reload_settings(monkeypatch, API_KEY_RECIPIENTS_PER_MINUTE="5")
    limits.limits().clock = clock
    assert invoke("send", event("send", {"to": cn_numbers(3), "content": "x"}))["statusCode"] == 200
    refused = invoke("send", event("send", {"to": cn_numbers(3, start=13900000000), "content": "x"}))
    assert refused["statusCode"] == 429 and header(refused, "Retry-After")
    assert len(stack.sms230.requests) == 1
    clock.now += 60
    assert (
        invoke("send", event("send", {"to": cn_numbers(3, start=13900000000), "content": "x"}))["statusCode"]
        == 200
    )


# -- blocklist ------------------------------------------------------------------------------------


def blocklist(method: str, number: str, reason: Any = None) -> dict[str, Any]:
    """As API Gateway passes it: the path as sent (%2B), the parameter decoded once (+)."""
    path_number = number.replace("%", "%25").replace("+", "%2B")
    payload = None if reason is None else {"reason": reason}
    return api_event(
        method, "/sms/blocklist/{number}", f"/sms/blocklist/{path_number}", {"number": number}, payload
    )


def test_blocklisted_numbers_are_never_sent_to(stack: Stack, invoke: Invoke) -> None:
    added = invoke("blocklist", blocklist("PUT", "+8613800138000", reason="opted out"))
    assert added["statusCode"] == 200 and body(added)["blocked"] is True
    assert body(invoke("blocklist", blocklist("GET", "13800138000")))["reason"] == "opted out"
    answer = body(invoke("send", event("send")))
    assert {m["to"]: m["status"] for m in answer["messages"]} == {
        "+8617072440811": "submitted",
        "+8613800138000": "blocked",
    }
    assert stack.sms230.recorded()[0].body["mobile"] == "8617072440811"
    refused = invoke("verify_code", event("verify_code", {"to": "+8613800138000", "content": "c"}))
    assert refused["statusCode"] == 422
    removed = invoke("blocklist", blocklist("DELETE", "+8613800138000"))
    assert body(removed) == {"number": "+8613800138000", "blocked": False, "removed": True}
    assert (
        invoke("verify_code", event("verify_code", {"to": "+8613800138000", "content": "c"}))["statusCode"]
        == 200
    )


def test_blocklist_rejects_bad_numbers(stack: Stack, invoke: Invoke) -> None:
    response = invoke("blocklist", blocklist("PUT", "12345"))
    assert response["statusCode"] == 422
    assert body(response)["error"]["fields"][0]["field"] == "number"
    assert invoke("blocklist", blocklist("PUT", "13800138000", reason=5))["statusCode"] == 422


def test_the_limits_table_holds_no_phone_number(stack: Stack, invoke: Invoke) -> None:
    invoke("blocklist", blocklist("PUT", "+8613800138000", reason="x"))
    invoke("verify_code", event("verify_code"))
    import boto3  # noqa: PLC0415

    items = boto3.resource("dynamodb").Table(stack.env["LIMITS_TABLE"]).scan()["Items"]
    assert items
    dumped = json.dumps(items, default=str)
    assert "13800138000" not in dumped and "17072440811" not in dumped


# -- content and number policy --------------------------------------------------------------------


def test_default_policy_is_mainland_china_only(stack: Stack, invoke: Invoke) -> None:
    response = invoke("send", event("send", {"to": ["17072440811", "+14155552671"], "content": "x"}))
    assert response["statusCode"] == 422
    assert body(response)["error"]["fields"] == [{"field": "to[1]", "message": "country +1 is not allowed"}]
    assert stack.sms230.requests == [] and stack.cm.requests == []


def test_content_longer_than_the_segment_limit_is_refused(stack: Stack, invoke: Invoke) -> None:
    response = invoke("send", event("send", {"to": "17072440811", "content": "验" * (67 * 10 + 1)}))
    assert response["statusCode"] == 422
    assert "segments" in body(response)["error"]["fields"][0]["message"]
    assert stack.sms230.requests == []


def test_the_blocklist_path_is_decoded_once_and_its_body_is_strict(stack: Stack, invoke: Invoke) -> None:
    double = invoke("blocklist", blocklist("GET", "%2B8613800138000"))  # sent as %252B86…
    assert double["statusCode"] == 422
    assert body(double)["error"]["fields"][0]["field"] == "number"
    for payload, field in (
        ({"reason": "ok", "extra": 1}, "extra"),
        ({"reason": "bad \ud800"}, "reason"),
        ({"reason": "bell\u0007"}, "reason"),
        ({"reason": "x" * 201}, "reason"),
    ):
        refused = invoke(
            "blocklist", blocklist("PUT", "+8613800138000", **{}) | {"body": json.dumps(payload)}
        )
        assert refused["statusCode"] == 422, payload
        assert [f["field"] for f in body(refused)["error"]["fields"]] == [field]
    assert invoke("blocklist", blocklist("GET", "+8613800138000"))["statusCode"] == 200
    assert body(invoke("blocklist", blocklist("GET", "+8613800138000")))["blocked"] is False


# -- limits count what was sent -------------------------------------------------------------------


def test_a_refused_verification_code_starts_no_cooldown(stack: Stack, invoke: Invoke, clock: Clock) -> None:
    stack.sms230.faults.inject("error_code", code=104, times=1)  # refused for its number: nothing sent
    stack.cm.faults.inject("error_code", code=1008, times=1)
    refused = invoke("verify_code", event("verify_code"))
    assert refused["statusCode"] == 422
    again = invoke("verify_code", event("verify_code"))
    assert again["statusCode"] == 200  # no 429: the refusal was given back
    assert invoke("verify_code", event("verify_code"))["statusCode"] == 429  # the sent one counts


def test_an_uncertain_verification_code_keeps_its_cooldown(
    stack: Stack, invoke: Invoke, clock: Clock
) -> None:
    stack.sms230.faults.inject("status_500", times=1)  # may have been sent
    assert invoke("verify_code", event("verify_code"))["statusCode"] == 202
    assert invoke("verify_code", event("verify_code"))["statusCode"] == 429


def test_recipients_nothing_was_sent_to_are_given_back_to_the_quota(
    stack: Stack, invoke: Invoke, monkeypatch: pytest.MonkeyPatch, clock: Clock
) -> None:
    reload_settings(monkeypatch, API_KEY_RECIPIENTS_PER_MINUTE="10")
    limits.limits().clock = clock
    stack.sms230.faults.inject("error_code", code=202, times=1)  # balance: nothing sent
    payload = {"to": cn_numbers(10), "content": "x", "provider": "230sms"}
    assert invoke("send", event("send", payload))["statusCode"] == 502
    stack.sms230.bad_numbers = {"8613800000003", "8613800000007"}
    partly = body(invoke("send", event("send", payload)))  # the quota is whole again
    assert partly["summary"]["submitted"] == 8 and partly["summary"]["rejected"] == 2
    two = {"to": cn_numbers(2, start=13900000000), "content": "x", "provider": "230sms"}
    assert invoke("send", event("send", two))["statusCode"] == 200  # the 2 refused were given back
    assert invoke("send", event("send", two))["statusCode"] == 429


def test_a_10000_recipient_idempotent_send_replays_byte_identical(stack: Stack, invoke: Invoke) -> None:
    payload = {"to": cn_numbers(10_000), "content": "x", "provider": "230sms"}
    first = invoke("send", keyed("send", "bulk-10k", payload))
    assert first["statusCode"] == 200
    assert len(first["body"]) > 400_000  # more than one DynamoDB item could hold
    replay = invoke("send", keyed("send", "bulk-10k", payload))
    assert (replay["statusCode"], replay["body"]) == (first["statusCode"], first["body"])
    assert len(stack.sms230.recorded("/outauth/send")) == 10  # sent once
