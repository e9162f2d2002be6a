"""Observability never fails a request: when metrics cannot be written or flushed (the fault seen
when a namespace is missing, or stdout is closed), send, verify-code and the receipt callback still
answer what happened, each provider request made once, and the failure is logged."""

import json
from typing import Any

import pytest
from aws_lambda_powertools.metrics import Metrics
from aws_lambda_powertools.metrics.base import MetricManager
from aws_lambda_powertools.metrics.exceptions import SchemaValidationError

from local_stack.events import status_event
from tests.handlers.conftest import TOKEN, Invoke, Stack, body, event

SEND_PATHS = {"/sms/send_message", "/sms/send_verify", "/outauth/send", "/outauth/verifCodeSend"}


def refuse(*args: Any, **kwargs: Any) -> None:
    raise SchemaValidationError("Must contain a metric namespace.")


@pytest.fixture(params=["flush", "every metric"])
def broken_metrics(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Powertools' own flush fails, or also every metric written along the way (EMF lines and the
    handler's metric set alike)."""
    monkeypatch.setattr(Metrics, "flush_metrics", refuse)
    if request.param == "every metric":
        monkeypatch.setattr(MetricManager, "serialize_metric_set", refuse)
        monkeypatch.setattr(MetricManager, "add_metric", refuse)
    return str(request.param)


def provider_sends(stack: Stack) -> int:
    return sum(1 for sandbox in (stack.cm, stack.sms230) for r in sandbox.requests if r.path in SEND_PATHS)


def logged_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.levelname in {"ERROR", "WARNING"}]


def test_send_answers_what_happened(
    stack: Stack, invoke: Invoke, broken_metrics: str, caplog: pytest.LogCaptureFixture
) -> None:
    response = invoke("send", event("send", {"to": ["+8617072440811"], "content": "hi"}))
    assert response["statusCode"] == 200, response["body"]
    assert body(response)["messages"][0]["status"] == "submitted"
    assert provider_sends(stack) == 1
    assert "metrics not flushed" in logged_errors(caplog)


def test_verify_code_answers_what_happened(
    stack: Stack, invoke: Invoke, broken_metrics: str, caplog: pytest.LogCaptureFixture
) -> None:
    payload = {"to": "+8617072440811", "content": "Your code is {code}"}
    response = invoke("verify_code", event("verify_code", payload))
    assert response["statusCode"] == 200, response["body"]
    assert body(response)["status"] == "submitted"
    assert "verification_id" in body(response)
    assert provider_sends(stack) == 1
    errors = logged_errors(caplog)
    assert "metrics not flushed" in errors
    if broken_metrics == "every metric":
        assert "metric not written" in errors


def test_the_callback_takes_the_receipt(
    stack: Stack, invoke: Invoke, broken_metrics: str, caplog: pytest.LogCaptureFixture
) -> None:
    sent = body(invoke("send", event("send", {"to": ["+8617072440811"], "content": "hi"})))
    message_id = sent["messages"][0]["message_id"]
    receipt = event("callback", {**json.loads(event("callback")["body"]), "taskid": message_id.split("-")[1]})
    receipt["pathParameters"] = {"provider": "230sms", "token": TOKEN}
    response = invoke("callback", receipt)
    assert (response["statusCode"], response["body"]) == (200, "OK")
    status = body(invoke("message_status", status_event(message_id)))
    assert status["status"] == "delivered"
    assert "metrics not flushed" in logged_errors(caplog)
