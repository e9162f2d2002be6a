"""Each provider fault, through the send handler: the right error kind, no double send, nothing
recorded as sent that was not, and the API still answering afterwards."""

from typing import Any

import pytest

from tests.handlers.conftest import Invoke, Stack, body, event

PAYLOADS = {
    "230sms": {"to": ["17072440811", "13800138000"], "content": "hi", "provider": "230sms"},
    "cmessages": {"to": ["17072440811", "13800138000"], "content": "hi", "provider": "cmessages"},
}


def sandbox(stack: Stack, provider: str) -> Any:
    return stack.sms230 if provider == "230sms" else stack.cm


@pytest.mark.parametrize("provider", ["230sms", "cmessages"])
@pytest.mark.parametrize(
    ("kind", "seconds", "status", "recorded"),
    [
        ("timeout", 3.0, 202, "unknown"),  # the provider acted; the answer never came
        ("status_500", None, 202, "unknown"),  # a 5xx after the request left: may have sent
        ("malformed", None, 202, "unknown"),  # accepted, answer unreadable
        ("drop", None, 202, "unknown"),  # connection closed without an answer
        ("delay", 0.3, 200, "submitted"),  # slow but within the read timeout
    ],
)
def test_fault(
    stack: Stack, invoke: Invoke, provider: str, kind: str, seconds: float | None, status: int, recorded: str
) -> None:
    fake = sandbox(stack, provider)
    fake.faults.inject(kind, seconds=seconds, times=1)
    response = invoke("send", event("send", PAYLOADS[provider]))
    assert response["statusCode"] == status
    answer = body(response)
    assert {m["status"] for m in answer["messages"]} == {recorded}
    assert len(fake.requests) == 1  # never retried: no double send
    assert {i["status"] for i in stack.items()} == {recorded}
    if recorded == "unknown":
        # No provider id; indexed as unknown, so that a late receipt can still settle it by number.
        assert all("provider_id" not in i and "provider_ids" not in i for i in stack.items())
        assert {i["pending_shard"] for i in stack.items()} == {f"{provider}#unknown"}
    other = stack.cm if provider == "230sms" else stack.sms230
    assert other.requests == []  # an uncertain outcome is never failed over
    # The API still answers, and the next send goes through.
    again = invoke("send", event("send", PAYLOADS[provider]))
    assert again["statusCode"] == 200
    assert invoke("balance", event("balance"))["statusCode"] == 200


@pytest.mark.parametrize("provider", ["230sms", "cmessages"])
def test_connection_refused(stack: Stack, invoke: Invoke, provider: str) -> None:
    sandbox(stack, provider).stop()
    response = invoke("send", event("send", PAYLOADS[provider]))
    assert response["statusCode"] == 503
    assert body(response)["error"]["code"] == "provider_unavailable"
    assert stack.items() == []
    assert invoke("message_status", event("message_status"))["statusCode"] == 404  # still answering
