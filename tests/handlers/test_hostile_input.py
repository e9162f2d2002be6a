"""Hostile and lenient bodies on every route: a clear 4xx naming the field, no provider call, nothing
stored; the callback answers 400 (never 5xx, which 230sms would push again) for what it can never store."""

import json
from typing import Any

import pytest

from local_stack.events import status_event
from tests.handlers.conftest import Invoke, Stack, body, event
from tests.handlers.test_callback import RECEIPT, receipt_event

NESTED = "[" * 100_000


def fields(response: dict[str, Any]) -> list[str]:
    return [f["field"] for f in body(response)["error"]["fields"]]


def nothing_happened(stack: Stack) -> None:
    assert stack.sms230.requests == [] and stack.cm.requests == []
    assert stack.all_items() == []


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"to": "17072440811", "content": "code \ud800"}, "content"),
        ({"to": "17072440811", "content": "\u200b"}, "content"),
        ({"to": "17072440811", "content": "nul\u0000 bel\u0007"}, "content"),
        ({"to": "17072440811", "content": "bad \ufffd"}, "content"),
        ({"to": "17072440811", "content": "hi", "template_id": "\ud885"}, "template_id"),
        ({"to": "17072440811", "content": "hi", "sign_name": "x" * 65}, "sign_name"),
        ({"to": "+8617072440811 ext 5", "content": "hi"}, "to"),
        ({"to": "tel:+8617072440811", "content": "hi"}, "to"),
        ({"to": ["17072440811", "+86 1707244 0811;ext=2"], "content": "hi"}, "to[1]"),
        ({"to": "17072440811", "content": "hi", "k" * 300_000: 1}, "k" * 64),
    ],
)
def test_send_refuses_by_field(stack: Stack, invoke: Invoke, payload: dict[str, Any], field: str) -> None:
    for function in ("send", "verify_code") if isinstance(payload["to"], str) else ("send",):
        response = invoke(function, event(function, payload))
        assert response["statusCode"] == 422
        assert field in fields(response)
    nothing_happened(stack)


@pytest.mark.parametrize("function", ["send", "verify_code", "blocklist"])
def test_deep_nesting_is_a_422_naming_the_body(stack: Stack, invoke: Invoke, function: str) -> None:
    sample = event(function if function != "blocklist" else "send", NESTED)
    if function == "blocklist":
        sample.update(
            httpMethod="PUT", resource="/sms/blocklist/{number}", path="/sms/blocklist/+8613800138000"
        )
        sample["pathParameters"] = {"number": "+8613800138000"}
        sample["requestContext"].update(httpMethod="PUT", resourcePath="/sms/blocklist/{number}")
    response = invoke(function, sample)
    assert response["statusCode"] == 422
    assert fields(response) == ["body"]
    nothing_happened(stack)


@pytest.mark.parametrize(
    "change",
    [
        {"taskid": "1" * 300_000},
        {"taskid": {"id": 1}},
        {"taskid": [1]},
        {"taskid": 8.5},
        {"mobile": "8" * 100_000},
        {"mobile": {"n": 1}},
        {"status": "WHATEVER"},
        {"status": "DELIVRD" * 10},
        {"times": ["2020"]},
        {"apikey": None},
    ],
)
def test_a_receipt_that_can_never_be_stored_is_a_400(
    stack: Stack, invoke: Invoke, change: dict[str, Any]
) -> None:
    response = invoke("callback", receipt_event(**change))
    assert response["statusCode"] == 400
    assert stack.all_items() == []


@pytest.mark.parametrize("raw", [NESTED, json.dumps(RECEIPT)[:-5], "\ud800", ""])
def test_garbage_at_the_callback_is_a_400(stack: Stack, invoke: Invoke, raw: str) -> None:
    sample = receipt_event()
    sample["body"] = raw
    assert invoke("callback", sample)["statusCode"] == 400
    assert stack.all_items() == []


def test_an_impossible_message_id_is_a_404_without_a_read(stack: Stack, invoke: Invoke) -> None:
    for message_id in ("x" * 300_000, "230-1/../2", "\ud800"):
        response = invoke("message_status", status_event(message_id))
        assert response["statusCode"] == 404
        assert len(body(response)["error"]["message"]) < 200
