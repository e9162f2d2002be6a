"""The Lambda deadline: no provider request is started that could not finish (and be recorded)
before it; what was taken is recorded and answered, the rest is reported `not_sent`."""

import pytest

from smsgw.guards import limits
from smsgw.platform import config
from tests.conftest import cn_numbers
from tests.handlers.conftest import Invoke, Stack, body, context, event, load_handler


def test_requests_that_cannot_finish_in_time_are_not_started(
    stack: Stack, invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {
        "PROVIDER_CONNECT_TIMEOUT": "0.5",
        "PROVIDER_READ_TIMEOUT": "1",  # a request needs up to 1.5 s
        "PROVIDER_CONCURRENCY": "1",
        "SEND_RESERVE_SECONDS": "0.5",
        "API_KEY_RECIPIENTS_PER_MINUTE": "500",
    }.items():
        monkeypatch.setenv(name, value)
    config.settings.cache_clear()
    limits.limits.cache_clear()
    stack.cm.faults.inject("delay", seconds=0.6)  # every request takes 0.6 s
    payload = {"to": cn_numbers(500), "content": "hi", "provider": "cmessages"}
    # 4 s: requests may start until 4 - 0.5 - 1.5 = 2.0 s after the start (less what the checks
    # before them took; a loaded machine takes longer): one to four of the five, never all.
    response = load_handler("send").lambda_handler(event("send", payload), context(timeout_seconds=4.0))
    assert response["statusCode"] == 202
    answer = body(response)
    sent = len(stack.cm.requests)
    assert 1 <= sent <= 4
    assert answer["summary"]["submitted"] == 100 * sent and answer["summary"]["not_sent"] == 500 - 100 * sent
    not_sent = [m for m in answer["messages"] if m["status"] == "not_sent"]
    assert {m["error"]["code"] for m in not_sent} == {"deadline_reached"}
    assert "message_id" not in not_sent[0]
    assert len(stack.recorded_numbers()) == 100 * sent  # what was taken is recorded
    # Those not sent were given back to the API key's quota: as many more go through.
    stack.cm.faults.clear()
    again = {"to": cn_numbers(500 - 100 * sent, start=13900000000), "content": "hi", "provider": "cmessages"}
    assert invoke("send", event("send", again))["statusCode"] == 200


def test_no_time_at_all_sends_nothing_and_says_so(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEND_RESERVE_SECONDS", "5")
    config.settings.cache_clear()
    response = load_handler("send").lambda_handler(event("send"), context(timeout_seconds=4.0))
    assert response["statusCode"] == 503
    assert body(response)["error"]["code"] == "deadline_reached"
    assert stack.sms230.requests == [] and stack.cm.requests == [] and stack.items() == []
