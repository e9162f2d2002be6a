"""Observability never fails a request: when metrics cannot be written or flushed (the fault seen
when a namespace is missing, or stdout is closed), send, verify-code and the receipt callback still
answer what happened, each provider request made once, and the failure is logged."""

import json
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.metrics import Metrics
from aws_lambda_powertools.metrics.base import MetricManager
from aws_lambda_powertools.metrics.exceptions import SchemaValidationError
from botocore.exceptions import ClientError

from local_stack.events import status_event
from local_stack.lambdas import reset_caches
from tests.handlers.conftest import TOKEN, Invoke, Stack, body, event, header

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


def test_a_code_sent_but_not_kept_is_answered_with_what_happened(
    stack: Stack, invoke: Invoke, caplog: pytest.LogCaptureFixture
) -> None:
    """Storage fails after the provider took the code (the verification's write is throttled past
    its retries): the caller hears the code went out, and that it cannot be checked, never a 5xx
    that would have it send another."""

    def throttled(params: dict[str, Any], **_: Any) -> None:
        if any(
            str(i.get("Put", {}).get("Item", {}).get("pk", {}).get("S", "")).startswith("otpid#")
            for i in params.get("TransactItems", [])
        ):
            raise ClientError(
                {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "injected"}},
                "TransactWriteItems",
            )

    session = boto3.DEFAULT_SESSION or boto3.Session()
    boto3.DEFAULT_SESSION = session
    session.events.register("before-parameter-build.dynamodb.TransactWriteItems", throttled)
    reset_caches()  # clients made from here on carry the hook
    try:
        response = invoke(
            "verify_code", event("verify_code", {"to": "+8617072440811", "content": "code {code}"})
        )
    finally:
        session.events.unregister("before-parameter-build.dynamodb.TransactWriteItems", throttled)
    assert response["statusCode"] == 200, response["body"]
    answer = body(response)
    assert answer["status"] == "submitted"
    assert "verification_id" not in answer
    assert any("could not be kept for checking" in w for w in answer["warnings"])
    assert provider_sends(stack) == 1
    assert "verification not recorded after its code was sent" in logged_errors(caplog)


def test_aws_throttled_past_its_retries_is_a_503_to_retry_never_a_502(stack: Stack, invoke: Invoke) -> None:
    def throttled(**_: Any) -> None:
        raise ClientError(
            {
                "Error": {"Code": "ThrottlingException", "Message": "injected"},
                "ResponseMetadata": {"HTTPStatusCode": 400},
            },
            "UpdateItem",
        )

    session = boto3.DEFAULT_SESSION or boto3.Session()
    boto3.DEFAULT_SESSION = session
    session.events.register("before-parameter-build.dynamodb.UpdateItem", throttled)
    reset_caches()
    try:
        response = invoke("verify_check", event("verify_check", {"to": "+8617072440811", "code": "123456"}))
    finally:
        session.events.unregister("before-parameter-build.dynamodb.UpdateItem", throttled)
    assert response["statusCode"] == 503, response["body"]
    assert body(response)["error"]["code"] == "storage_unavailable"
    assert header(response, "Retry-After") == "1"
