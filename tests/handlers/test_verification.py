"""Verification codes the gateway makes and checks: made with `secrets`, sent, kept only as an HMAC,
checked once, a limited number of times, until they expire; a new code supersedes the last."""

import json
import re
import threading
from typing import Any

import boto3
import pytest

from smsgw.guards import limits
from smsgw.guards.tenants import default_tenant
from smsgw.platform import config
from smsgw.verification import codes
from tests.handlers.conftest import Invoke, Stack, body, event

TO = "+8617072440811"


@pytest.fixture(autouse=True)
def codes_any_time(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    """The per-number cooldown and windows have their own tests: here they never stop a code."""
    for name in ("VERIFY_COOLDOWN_SECONDS", "VERIFY_MAX_PER_10_MINUTES", "VERIFY_MAX_PER_DAY"):
        monkeypatch.setenv(name, "1" if name == "VERIFY_COOLDOWN_SECONDS" else "1000")
    config.settings.cache_clear()
    limits.limits.cache_clear()
    ticks = iter(range(2_000_000_000, 3_000_000_000, 5))
    limits.limits().clock = lambda: float(next(ticks))


class OneCallAtATime:
    """DynamoDB applies each write to an item atomically; Moto in-process is not thread-safe (two
    concurrent writes can fail inside it). Calls are serialised one by one, as DynamoDB does per
    item, while the checks' steps still interleave freely between threads."""

    def __init__(self, client: Any) -> None:
        self.client, self.lock = client, threading.Lock()

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.client, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            with self.lock:
                return method(*args, **kwargs)

        return call


def send_code(invoke: Invoke, **fields: Any) -> dict[str, Any]:
    payload = {"to": TO, "content": "【ACME】您的验证码是{code}，5分钟内有效", **fields}
    answer: dict[str, Any] = body(invoke("verify_code", event("verify_code", payload)))
    return answer


def sent_code(stack: Stack) -> str:
    """The code as the provider received it (only the sandbox ever sees it)."""
    content = stack.sms230.recorded("/outauth/verifCodeSend")[-1].body["content"]
    match = re.search(r"验证码是([0-9A-Za-z]+)，", content)
    assert match
    return match.group(1)


def check(invoke: Invoke, code: str, **who: str) -> dict[str, Any]:
    response = invoke("verify_check", event("verify_check", {"code": code, **(who or {"to": TO})}))
    assert response["statusCode"] == 200, response["body"]
    answer: dict[str, Any] = body(response)
    return answer


def test_the_gateway_makes_sends_and_approves_a_code_once(stack: Stack, invoke: Invoke) -> None:
    answer = send_code(invoke)
    assert answer["status"] == "submitted" and answer["verification_id"].startswith("v-")
    code = sent_code(stack)
    assert re.fullmatch(r"[0-9]{6}", code) and code not in json.dumps(answer)
    assert check(invoke, code) == {
        "status": "approved",
        "attempts_left": 0,
        "verification_id": answer["verification_id"],
    }
    assert check(invoke, code)["status"] == "not_found"  # single use


def test_length_caller_code_and_check_by_id(stack: Stack, invoke: Invoke) -> None:
    send_code(invoke, code_length=8)
    assert re.fullmatch(r"[0-9]{8}", sent_code(stack))
    answer = send_code(invoke, code="AB12cd", code_type="alphanumeric")
    assert sent_code(stack) == "AB12cd"
    assert check(invoke, "AB12cd", verification_id=answer["verification_id"])["status"] == "approved"


def test_wrong_codes_spend_attempts_up_to_the_limit(stack: Stack, invoke: Invoke) -> None:
    send_code(invoke)
    code = sent_code(stack)
    wrong = "000000" if code != "000000" else "111111"
    assert [check(invoke, wrong)["attempts_left"] for _ in range(4)] == [4, 3, 2, 1]
    assert check(invoke, wrong) == {
        "status": "max_attempts_reached",
        "attempts_left": 0,
        "verification_id": check(invoke, wrong)["verification_id"],
    }
    assert check(invoke, code)["status"] == "max_attempts_reached"  # even the right one, now


def test_a_new_code_supersedes_the_last(stack: Stack, invoke: Invoke) -> None:
    first = send_code(invoke)
    old = sent_code(stack)
    send_code(invoke)
    new = sent_code(stack)
    assert check(invoke, old, verification_id=first["verification_id"])["status"] == "not_found"
    if old != new:
        assert check(invoke, old)["status"] == "pending"
    assert check(invoke, new)["status"] == "approved"


def test_an_expired_code_is_expired(stack: Stack, invoke: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    send_code(invoke)
    code = sent_code(stack)
    real = codes.time.time
    monkeypatch.setattr(codes.time, "time", lambda: real() + 601)
    assert check(invoke, code)["status"] == "expired"


def test_concurrent_right_checks_approve_once(stack: Stack, invoke: Invoke) -> None:
    send_code(invoke)
    code = sent_code(stack)
    results: list[str] = []
    store = codes.verifications()
    store.client = OneCallAtATime(store.client)

    def one() -> None:
        try:
            results.append(
                str(store.check(code, to=TO, verification_id=None, tenant=default_tenant("anonymous")).status)
            )
        except Exception as error:
            results.append(repr(error))

    threads = [threading.Thread(target=one) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count("approved") == 1, results
    assert set(results) == {"approved", "not_found"}
    assert check(invoke, code)["status"] == "not_found"


def test_only_a_keyed_hash_of_the_code_is_kept(stack: Stack, invoke: Invoke) -> None:
    send_code(invoke)
    code = sent_code(stack)
    items = boto3.resource("dynamodb").Table(stack.env["LIMITS_TABLE"]).scan()["Items"]
    kept = json.dumps(items, default=str)
    assert code not in kept and "+86" not in kept
    assert any(len(str(i.get("code_hmac", ""))) == 64 for i in items)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"code_length": 5}, "code_length"),
        ({"code_length": 11}, "code_length"),
        ({"code": "12"}, "code"),
        ({"code": "1234"}, "code"),  # four digits: too easy to guess
        ({"code": "12 345"}, "code"),
        ({"content": "no placeholder", "code": "123456"}, "code"),
        ({"content": None, "code": "123456"}, "code"),
        ({"code": "12345678901"}, "code"),
        ({"code": "1234ab"}, "code"),  # digits unless code_type says otherwise
        ({"code_type": "emoji"}, "code_type"),
    ],
)
def test_bad_code_fields_are_refused_before_sending(
    stack: Stack, invoke: Invoke, payload: dict[str, Any], field: str
) -> None:
    full = {"to": TO, "content": "code {code}", **payload}
    response = invoke("verify_code", event("verify_code", full))
    assert response["statusCode"] == 422
    assert [f["field"] for f in body(response)["error"]["fields"]] == [field]
    assert stack.sms230.requests == []


def test_content_without_a_placeholder_keeps_todays_behaviour(stack: Stack, invoke: Invoke) -> None:
    answer = body(invoke("verify_code", event("verify_code", {"to": TO, "content": "Your code is 123456"})))
    assert answer["status"] == "submitted" and "verification_id" not in answer


def test_twenty_concurrent_wrong_checks_spend_the_attempts_and_no_more(stack: Stack, invoke: Invoke) -> None:
    send_code(invoke)
    code = sent_code(stack)
    wrong = "000000" if code != "000000" else "111111"
    store = codes.verifications()
    store.client = OneCallAtATime(store.client)
    results: list[str] = []

    def one() -> None:
        results.append(
            str(store.check(wrong, to=TO, verification_id=None, tenant=default_tenant("anonymous")).status)
        )

    threads = [threading.Thread(target=one) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Five attempts were spent on five of the guesses; the other fifteen were never compared.
    assert results.count("pending") == 4 and len(results) == 20
    assert results.count("max_attempts_reached") == 16
    assert check(invoke, code)["status"] == "max_attempts_reached"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"code": "123456"}, "to"),  # neither to nor verification_id
        ({"code": "123456", "to": TO, "verification_id": "v-1"}, "to"),  # both
        ({"to": TO}, "code"),
        ({"code": 123456, "to": TO}, "code"),
        ({"code": "123456", "to": TO, "extra": 1}, "extra"),
    ],
)
def test_bad_checks_are_422(stack: Stack, invoke: Invoke, payload: dict[str, Any], field: str) -> None:
    response = invoke("verify_check", event("verify_check", payload))
    assert response["statusCode"] == 422
    assert field in [f["field"] for f in body(response)["error"]["fields"]]


def test_an_unknown_verification_id_is_not_found(stack: Stack, invoke: Invoke) -> None:
    for unknown in ("v-" + "0" * 32, "nonsense", "x" * 10_000):
        assert check(invoke, "123456", verification_id=unknown) == {"status": "not_found", "attempts_left": 0}


def test_a_made_alphanumeric_code_avoids_ambiguous_characters(stack: Stack, invoke: Invoke) -> None:
    send_code(invoke, code_type="alphanumeric", code_length=10)
    code = sent_code(stack)
    assert re.fullmatch(r"[2-9A-HJ-NP-Z]{10}", code)


def test_codes_are_compared_in_constant_time(
    stack: Stack, invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    send_code(invoke)
    compared: list[tuple[str, str]] = []
    real = codes.hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(codes.hmac, "compare_digest", spy)
    check(invoke, "000001")
    assert len(compared) == 1 and all(len(side) == 64 for side in compared[0])  # HMACs, not codes


def test_a_callers_code_is_not_part_of_what_the_idempotency_record_keeps(
    stack: Stack, invoke: Invoke
) -> None:
    """The record keeps a hash of the request for 24 h: a 6-digit code in it could be brute-forced.
    Without it, a retry with the same key answers the first answer whatever code it carries."""
    payload = {"to": TO, "content": "【ACME】您的验证码是{code}，5分钟内有效"}
    answers = []
    for code in ("246810", "135791"):
        sample = event("verify_code", {**payload, "code": code})
        sample["headers"]["Idempotency-Key"] = "otp-77"
        sample["multiValueHeaders"]["Idempotency-Key"] = ["otp-77"]
        answers.append(invoke("verify_code", sample))
    assert [a["statusCode"] for a in answers] == [200, 200]
    assert body(answers[1]) == body(answers[0])  # replayed, not refused as another request
    assert len(stack.sms230.recorded("/outauth/verifCodeSend")) == 1
    kept = json.dumps(
        boto3.resource("dynamodb").Table(stack.env["IDEMPOTENCY_TABLE"]).scan()["Items"], default=str
    )
    assert "246810" not in kept and "135791" not in kept
