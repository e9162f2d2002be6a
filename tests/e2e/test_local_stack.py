"""End to end: the local stack over HTTP, as a client, 230sms' receipt pushes and EventBridge see it."""

import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.e2e.client import RunningStack

pytestmark = pytest.mark.e2e

BULK = 1500


def numbers(count: int, start: int) -> list[str]:
    return [f"+86{start + i}" for i in range(count)]


class Pushed:
    """The sandbox's count of receipts answered OK since `before`, re-read at most every 0.2 s."""

    def __init__(self, stack: RunningStack, before: int) -> None:
        self.stack, self.before = stack, before
        self.lock = threading.Lock()
        self.value, self.read_at = 0, 0.0

    def count(self) -> int:
        with self.lock:
            if time.monotonic() - self.read_at > 0.2:
                state = self.stack.sandbox("sms230", "GET", "/_sandbox/state")
                self.value = state["receipts"]["delivered"] - self.before
                self.read_at = time.monotonic()
            return self.value


def test_bulk_send_through_230sms_every_receipt_arrives(stack: RunningStack) -> None:
    before = stack.sandbox("sms230", "GET", "/_sandbox/state")["receipts"]["delivered"]
    recipients = numbers(BULK, 13800000000)

    answer = stack.api(
        "POST", "/sms/send", {"to": recipients, "content": "Bulk notice", "provider": "230sms"}
    )

    assert answer.status == 200, answer.text
    sent = answer.json()
    assert sent["provider"] == "230sms"
    assert [m["to"] for m in sent["messages"]] == recipients
    assert {m["status"] for m in sent["messages"]} == {"submitted"}
    ids = [m["message_id"] for m in sent["messages"]]
    assert len(set(ids)) == BULK

    # Status lookups overlap the receipts still arriving (they are another function), each one
    # once the sandbox has pushed about that many receipts, so few lookups find it too early.
    deadline = time.monotonic() + 120  # generous: a loaded 2-core machine serves Moto slowly
    pushed = Pushed(stack, before)

    def delivered(index_and_id: tuple[int, str]) -> dict[str, Any]:
        index, message_id = index_and_id
        while pushed.count() < min(index + 50, BULK) and time.monotonic() < deadline:
            time.sleep(0.1)
        status: dict[str, Any] = {"message_id": message_id, "status": "(not looked up: out of time)"}
        while time.monotonic() < deadline:
            status = stack.status_of(message_id)
            if status["status"] == "delivered":
                break
            time.sleep(0.2)
        return status

    with ThreadPoolExecutor(4) as pool:
        statuses = list(pool.map(delivered, enumerate(ids)))

    late = [s["message_id"] for s in statuses if s["status"] != "delivered"]
    assert not late, f"{len(late)} of {BULK} not delivered in time, e.g. {late[:3]}"
    assert [s["message_id"] for s in statuses] == ids
    assert [s["to"] for s in statuses] == recipients
    assert all(s["provider_status"] == "DELIVRD" and s["recorded"] for s in statuses)
    receipts = stack.sandbox("sms230", "GET", "/_sandbox/state")["receipts"]
    assert receipts["delivered"] - before == BULK
    assert receipts["failed"] == 0


def test_send_through_cmessages_the_poller_settles_it(stack: RunningStack) -> None:
    recipients = numbers(3, 13900000000)
    answer = stack.api("POST", "/sms/send", {"to": recipients, "content": "Poll me", "provider": "cmessages"})

    assert answer.status == 200, answer.text
    messages = answer.json()["messages"]
    assert {m["status"] for m in messages} == {"submitted"}
    for message in messages:
        final = stack.wait_for(
            "the poller to settle a cmessages message",
            lambda m=message: (s := stack.status_of(m["message_id"]))["status"] == "delivered" and s,
            timeout=20,
        )
        assert final["provider"] == "cmessages"
        assert final["provider_status"] == "0"


@pytest.mark.parametrize(("provider", "number"), [("cmessages", "17072440811"), ("230sms", "17072440812")])
def test_verification_code_through_each_provider(stack: RunningStack, provider: str, number: str) -> None:
    # One number per provider: the gateway allows one code per number per minute.
    body = {"to": number, "content": "Your code is 493817", "provider": provider}

    answer = stack.api("POST", "/sms/verify-code", body)

    assert answer.status == 200, answer.text
    sent = answer.json()
    assert sent["provider"] == provider
    assert sent["to"] == f"+86{number}"
    assert sent["status"] == "submitted"
    final = stack.wait_for(
        f"the {provider} verification code delivered",
        lambda: (s := stack.status_of(sent["message_id"]))["status"] == "delivered" and s,
        timeout=20,
    )
    assert final["kind"] == "verify"


def test_balance(stack: RunningStack) -> None:
    answer = stack.api("GET", "/sms/balance")

    assert answer.status == 200, answer.text
    balances = {b["provider"]: b for b in answer.json()["balances"]}
    assert isinstance(balances["cmessages"]["balance"], int | float)
    assert balances["230sms"]["supported"] is False


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/sms/send"),
        ("POST", "/sms/verify-code"),
        ("GET", "/sms/balance"),
        ("GET", "/sms/messages/cm-521-fe66c8d9b3dc90ce"),
    ],
)
@pytest.mark.parametrize("key", [None, "wrong-key"], ids=["missing-key", "wrong-key"])
def test_api_key_required(stack: RunningStack, method: str, path: str, key: str | None) -> None:
    before = stack.sent_requests()
    body = {"to": ["+8617072440811"], "content": "hi"} if method == "POST" else None

    answer = stack.api(method, path, body, key=key)

    assert answer.status == 403
    assert answer.json() == {"message": "Forbidden"}
    assert stack.sent_requests() == before


def test_unknown_route_answered_as_api_gateway_does(stack: RunningStack) -> None:
    for method, path in [("GET", "/nothing/here"), ("GET", "/sms/send"), ("DELETE", "/sms/balance")]:
        answer = stack.api(method, path)
        assert answer.status == 403, (method, path)
        assert answer.json() == {"message": "Missing Authentication Token"}


def test_callback_with_a_wrong_token_is_refused_and_stores_nothing(stack: RunningStack) -> None:
    # Receipts are not pushed for this send, so the only receipt is the one posted here.
    stack.sandbox("sms230", "POST", "/_sandbox/callback", {"url": None})
    try:
        answer = stack.api(
            "POST", "/sms/send", {"to": ["13700000001"], "content": "hi", "provider": "230sms"}
        )
        assert answer.status == 200, answer.text
        (message,) = answer.json()["messages"]
    finally:
        stack.sandbox("sms230", "POST", "/_sandbox/callback", {"url": stack.callback_url})
    taskid = message["message_id"].split("-")[1]
    apikey = stack.sandbox("sms230", "GET", "/_sandbox/requests")[-1]["body"]["apikey"]
    receipt = {
        "apikey": apikey,
        "taskid": taskid,
        "mobile": "8613700000001",
        "status": "DELIVRD",
        "times": "2026-11-23 17:42",
    }
    base = stack.callback_url.rsplit("/", 1)[0]

    refused = stack.request("POST", f"{base}/not-the-token", receipt)

    assert refused.status == 403
    assert refused.text != "OK"
    assert stack.status_of(message["message_id"])["status"] == "submitted"

    # The same receipt with the right token is stored: the refusal above was the token's doing.
    accepted = stack.request("POST", stack.callback_url, receipt)
    assert (accepted.status, accepted.text) == (200, "OK")
    assert stack.status_of(message["message_id"])["status"] == "delivered"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/sms/send", '{"to": ["+8617072440811"], "content": '),
        ("/sms/send", ""),
        ("/sms/send", {"to": ["+8617072440811"], "content": ""}),
        ("/sms/send", {"to": ["12345"], "content": "hi"}),
        ("/sms/send", {"to": ["+8617072440811"], "content": "hi", "provider": "carrier-pigeon"}),
        ("/sms/verify-code", "not json"),
        ("/sms/verify-code", {"to": "+86170724408", "content": "Your code is 1"}),
        ("/sms/verify-code", {"to": "+8617072440811", "content": "   "}),
        ("/sms/verify-code", {"to": "+8617072440811", "content": "code 1", "provider": "nope"}),
    ],
    ids=[
        "send-invalid-json",
        "send-no-body",
        "send-empty-content",
        "send-bad-number",
        "send-unknown-provider",
        "verify-invalid-json",
        "verify-bad-number",
        "verify-blank-content",
        "verify-unknown-provider",
    ],
)
def test_bad_requests_never_reach_a_provider(stack: RunningStack, path: str, body: Any) -> None:
    before = stack.sent_requests()

    answer = stack.api("POST", path, body)

    assert 400 <= answer.status < 500, answer.text
    assert "error" in answer.json()
    assert stack.sent_requests() == before


def test_provider_refusal_is_answered_with_its_code(stack: RunningStack) -> None:
    fault = {"kind": "error_code", "code": 1009, "times": 1, "path": "/sms/send_message"}
    stack.sandbox("cmessages", "POST", "/_sandbox/faults", fault)
    try:
        answer = stack.api(
            "POST", "/sms/send", {"to": ["13600000001"], "content": "hi", "provider": "cmessages"}
        )
    finally:
        stack.sandbox("cmessages", "DELETE", "/_sandbox/faults")

    assert 400 <= answer.status < 600 and answer.status != 500, answer.text
    error = answer.json()["error"]
    assert error["provider_code"] == "1009"
    assert error["provider"] == "cmessages"


def test_log_has_one_line_per_request_and_no_secrets(stack: RunningStack) -> None:
    stack.api("GET", "/sms/balance")
    token = stack.callback_url.rsplit("/", 1)[1]
    log = stack.log()

    access = re.findall(r"^(GET|POST|PUT|DELETE|PATCH|OPTIONS) (\S+) (\d{3}) (\d+)$", log, re.MULTILINE)
    assert ("GET", "/sms/balance", "200") in {a[:3] for a in access}
    assert ("POST", "/callbacks/{provider}/{token}", "200") in {a[:3] for a in access}
    assert token not in log
    assert "+8613800000000" not in log and "13800000000" not in log
