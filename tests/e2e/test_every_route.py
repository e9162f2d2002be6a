"""Every route of the served OpenAPI document, once as a newcomer would call it (a valid example)
and once malformed, through `make run` started from a plain shell: no 5xx anywhere, every status one
the document lists for that operation, every JSON answer valid against the document's schema for it.
A route added to the document without an example here fails the first test."""

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from openapi_schema_validator import OAS30Validator

from tests.e2e.client import Answer, RunningStack, running_stack

pytestmark = pytest.mark.e2e

NUMBER = "+8617072440811"
NO_ENDPOINT = "/webhooks/endpoints/ep_nope"


@dataclass
class Calls:
    """The state the examples share: ids the earlier calls made."""

    stack: RunningStack
    message_id: str = ""
    campaign_id: str = ""
    started_campaign: str = ""
    endpoint_id: str = ""

    @property
    def token(self) -> str:
        return self.stack.callback_url.rsplit("/", 1)[1]


Call = Callable[[Calls], tuple[str, Any]]  # -> (path, body or None)

# (METHOD, route) -> the valid example; examples run in this order (later ones use earlier ids).
VALID: dict[tuple[str, str], Call] = {
    ("GET", "/openapi.json"): lambda c: ("/openapi.json", None),
    ("GET", "/sms/balance"): lambda c: ("/sms/balance", None),
    ("POST", "/sms/send"): lambda c: (
        "/sms/send",
        {"to": [NUMBER], "content": "Hello", "provider": "230sms"},
    ),
    ("GET", "/sms/messages/{message_id}"): lambda c: (f"/sms/messages/{c.message_id}", None),
    ("POST", "/callbacks/{provider}/{token}"): lambda c: (
        f"/callbacks/230sms/{c.token}",
        {
            "apikey": "sandbox-apikey",
            "taskid": c.message_id.split("-")[1],
            "mobile": NUMBER.removeprefix("+"),
            "status": "DELIVRD",
            "times": "2026-12-03 10:00",
        },
    ),
    ("POST", "/sms/verify-code"): lambda c: (
        "/sms/verify-code",
        {"to": "+8617072440812", "content": "Code {code}"},
    ),
    ("POST", "/sms/verify-code/check"): lambda c: (
        "/sms/verify-code/check",
        {"to": "+8617072440812", "code": "000000"},
    ),
    ("PUT", "/sms/blocklist/{number}"): lambda c: ("/sms/blocklist/+8617072440819", None),
    ("GET", "/sms/blocklist/{number}"): lambda c: ("/sms/blocklist/+8617072440819", None),
    ("DELETE", "/sms/blocklist/{number}"): lambda c: ("/sms/blocklist/+8617072440819", None),
    ("POST", "/sms/campaigns"): lambda c: ("/sms/campaigns", {"content": "News", "kind": "notification"}),
    ("POST", "/sms/campaigns/{id}/start"): lambda c: (f"/sms/campaigns/{c.started_campaign}/start", None),
    ("GET", "/sms/campaigns/{id}"): lambda c: (f"/sms/campaigns/{c.campaign_id}", None),
    ("DELETE", "/sms/campaigns/{id}"): lambda c: (f"/sms/campaigns/{c.campaign_id}", None),
    ("POST", "/webhooks/endpoints"): lambda c: (
        "/webhooks/endpoints",
        {"url": "https://hooks.example.com/sms"},
    ),
    ("GET", "/webhooks/endpoints"): lambda c: ("/webhooks/endpoints", None),
    ("GET", "/webhooks/endpoints/{id}"): lambda c: (f"/webhooks/endpoints/{c.endpoint_id}", None),
    ("POST", "/webhooks/endpoints/{id}/rotate-secret"): lambda c: (
        f"/webhooks/endpoints/{c.endpoint_id}/rotate-secret",
        None,
    ),
    ("POST", "/webhooks/endpoints/{id}/test"): lambda c: (f"/webhooks/endpoints/{c.endpoint_id}/test", None),
    ("POST", "/webhooks/endpoints/{id}/recover"): lambda c: (
        f"/webhooks/endpoints/{c.endpoint_id}/recover",
        {"since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3600))},
    ),
    ("GET", "/webhooks/endpoints/{id}/deliveries"): lambda c: (
        f"/webhooks/endpoints/{c.endpoint_id}/deliveries",
        None,
    ),
    ("DELETE", "/webhooks/endpoints/{id}"): lambda c: (f"/webhooks/endpoints/{c.endpoint_id}", None),
}
# (METHOD, route) -> a malformed call: a body that is not JSON, a required field missing, an id or
# number that cannot be one.
MALFORMED: dict[tuple[str, str], Call] = {
    ("GET", "/openapi.json"): lambda c: ("/openapi.json?x=%00", None),
    ("GET", "/sms/balance"): lambda c: ("/sms/balance", "{not json"),
    ("POST", "/sms/send"): lambda c: ("/sms/send", "{not json"),
    ("GET", "/sms/messages/{message_id}"): lambda c: ("/sms/messages/%E2%98%83%00", None),
    ("POST", "/callbacks/{provider}/{token}"): lambda c: (f"/callbacks/230sms/{c.token}", '{"taskid": [1]}'),
    ("POST", "/sms/verify-code"): lambda c: ("/sms/verify-code", {"to": ["not", "one"], "content": 5}),
    ("POST", "/sms/verify-code/check"): lambda c: ("/sms/verify-code/check", {"to": NUMBER}),
    ("PUT", "/sms/blocklist/{number}"): lambda c: ("/sms/blocklist/not-a-number", None),
    ("GET", "/sms/blocklist/{number}"): lambda c: ("/sms/blocklist/12", None),
    ("DELETE", "/sms/blocklist/{number}"): lambda c: ("/sms/blocklist/%2B%2B", None),
    ("POST", "/sms/campaigns"): lambda c: ("/sms/campaigns", {"content": "x", "kind": "spam"}),
    ("POST", "/sms/campaigns/{id}/start"): lambda c: ("/sms/campaigns/cmp-nope/start", None),
    ("GET", "/sms/campaigns/{id}"): lambda c: ("/sms/campaigns/..%2F..", None),
    ("DELETE", "/sms/campaigns/{id}"): lambda c: ("/sms/campaigns/cmp-nope", None),
    ("POST", "/webhooks/endpoints"): lambda c: ("/webhooks/endpoints", {"url": "ftp://hooks.example.com"}),
    ("GET", "/webhooks/endpoints"): lambda c: ("/webhooks/endpoints", "{not json"),
    ("GET", "/webhooks/endpoints/{id}"): lambda c: ("/webhooks/endpoints/ep_nope", None),
    ("POST", "/webhooks/endpoints/{id}/rotate-secret"): lambda c: (
        "/webhooks/endpoints/ep_nope/rotate-secret",
        None,
    ),
    ("POST", "/webhooks/endpoints/{id}/test"): lambda c: ("/webhooks/endpoints/..%2F../test", None),
    ("POST", "/webhooks/endpoints/{id}/recover"): lambda c: (
        "/webhooks/endpoints/ep_nope/recover",
        {"since": "then"},
    ),
    ("GET", "/webhooks/endpoints/{id}/deliveries"): lambda c: (
        "/webhooks/endpoints/ep_nope/deliveries",
        None,
    ),
    ("DELETE", "/webhooks/endpoints/{id}"): lambda c: ("/webhooks/endpoints/ep_nope", None),
}


TAKE_NO_INPUT = {("GET", "/openapi.json"), ("GET", "/sms/balance"), ("GET", "/webhooks/endpoints")}


@pytest.fixture(scope="module")
def stack() -> Iterator[RunningStack]:
    with running_stack({}) as running:
        yield running


@pytest.fixture(scope="module")
def served(stack: RunningStack) -> dict[str, Any]:
    answer = stack.api("GET", "/openapi.json")
    assert answer.status == 200, answer.text
    document: dict[str, Any] = answer.json()
    return document


def operations(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method in {"get", "put", "post", "delete", "patch"}
    }


def conforms(document: dict[str, Any], operation: tuple[str, str], answer: Answer) -> None:
    method, route = operation
    responses = document["paths"][route][method.lower()]["responses"]
    assert str(answer.status) in responses, (
        f"{method} {route}: {answer.status} is not documented: {answer.text}"
    )
    content = responses[str(answer.status)].get("content", {})
    if "application/json" in content:
        OAS30Validator(content["application/json"]["schema"]).validate(answer.json())


def call(calls: Calls, operation: tuple[str, str], make: Call) -> Answer:
    path, body = make(calls)
    key = None if operation[1].startswith("/callbacks/") else ""
    return calls.stack.api(operation[0], path, body, key=key)


def test_every_route_of_the_document_has_a_valid_and_a_malformed_example(served: dict[str, Any]) -> None:
    assert set(VALID) == operations(served)
    assert set(MALFORMED) == operations(served)


def test_every_route_answers_a_valid_call_as_documented(stack: RunningStack, served: dict[str, Any]) -> None:
    calls = Calls(stack)
    answers: dict[tuple[str, str], Answer] = {}
    for operation, make in VALID.items():
        if operation == ("POST", "/sms/campaigns/{id}/start"):
            created = stack.api(
                "POST", "/sms/campaigns", {"content": "Go", "kind": "notification", "to": [NUMBER]}
            )
            calls.started_campaign = created.json()["campaign_id"]
            draft = stack.api("POST", "/sms/campaigns", {"content": "Draft", "kind": "notification"})
            put = stack.request(
                "PUT", draft.json()["upload_url"], NUMBER + "\n", {"Content-Type": "text/plain"}
            )
            assert put.status == 200, put.text
            calls.started_campaign = draft.json()["campaign_id"]
        answer = answers[operation] = call(calls, operation, make)
        assert answer.status < 500, f"{operation}: {answer.status} {answer.text}"
        conforms(served, operation, answer)
        if operation == ("POST", "/sms/send"):
            calls.message_id = answer.json()["messages"][0]["message_id"]
        if operation == ("POST", "/sms/campaigns"):
            calls.campaign_id = answer.json()["campaign_id"]
        if operation == ("POST", "/webhooks/endpoints"):
            calls.endpoint_id = answer.json()["endpoint_id"]
    # Valid examples do what they say: each one succeeds.
    failed = {op: (a.status, a.text) for op, a in answers.items() if not 200 <= a.status < 300}
    assert not failed, failed
    assert answers[("POST", "/callbacks/{provider}/{token}")].text == "OK"


def test_every_route_answers_a_malformed_call_with_a_documented_4xx(
    stack: RunningStack, served: dict[str, Any]
) -> None:
    calls = Calls(stack, message_id="230-1-0", campaign_id="cmp-nope")
    for operation, make in MALFORMED.items():
        answer = call(calls, operation, make)
        assert answer.status < 500, f"{operation}: {answer.status} {answer.text}"
        conforms(served, operation, answer)
        if operation not in TAKE_NO_INPUT:
            assert 400 <= answer.status < 500, f"{operation}: {answer.status} {answer.text}"
            if answer.headers.get("Content-Type", "").startswith("application/json"):
                assert json.loads(answer.text)["error"]["message"], operation
