"""Two API keys of the usage plan: each reads only its own messages and keeps its own blocklist,
unless the deployment is single-tenant (TENANCY=single)."""

from typing import Any

import pytest

from local_stack.events import status_event
from smsgw.domain.numbers import number_key
from smsgw.domain.statuses import Status
from smsgw.guards.tenants import tenants
from smsgw.platform import config
from smsgw.storage.items import MessageRef
from smsgw.storage.messages import message_store
from tests.handlers.conftest import Invoke, Stack, api_event, body, event


def as_key(sample: dict[str, Any], key_id: str) -> dict[str, Any]:
    sample["requestContext"]["identity"]["apiKeyId"] = key_id
    return sample


def block(number: str, key_id: str) -> dict[str, Any]:
    path = f"/sms/blocklist/{number.replace('+', '%2B')}"
    return as_key(
        api_event("PUT", "/sms/blocklist/{number}", path, {"number": number}, {"reason": "stop"}), key_id
    )


def test_a_key_reads_only_its_own_messages(stack: Stack, invoke: Invoke) -> None:
    (message,) = body(invoke("send", as_key(event("send", {"to": "17072440811", "content": "x"}), "key-a")))[
        "messages"
    ]
    mine = invoke("message_status", as_key(status_event(message["message_id"]), "key-a"))
    assert mine["statusCode"] == 200 and "tenant" not in body(mine)
    theirs = invoke("message_status", as_key(status_event(message["message_id"]), "key-b"))
    assert theirs["statusCode"] == 404


def test_each_key_keeps_its_own_blocklist(stack: Stack, invoke: Invoke) -> None:
    assert invoke("blocklist", block("+8613800138000", "key-a"))["statusCode"] == 200
    payload = {"to": ["13800138000", "17072440811"], "content": "x"}
    for key, expected in (("key-a", "blocked"), ("key-b", "submitted")):
        answer = body(invoke("send", as_key(event("send", payload), key)))
        assert {m["to"]: m["status"] for m in answer["messages"]}["+8613800138000"] == expected


def test_single_tenant_mode_shares_both(
    stack: Stack, invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TENANCY", "single")
    config.settings.cache_clear()
    (message,) = body(invoke("send", as_key(event("send", {"to": "17072440811", "content": "x"}), "key-a")))[
        "messages"
    ]
    assert invoke("message_status", as_key(status_event(message["message_id"]), "key-b"))["statusCode"] == 200
    invoke("blocklist", block("+8613800138000", "key-a"))
    answer = body(invoke("send", as_key(event("send", {"to": "13800138000", "content": "x"}), "key-b")))
    assert answer["error"]["code"] == "validation_error"  # every recipient is on the (shared) blocklist


def test_a_rotated_key_attached_to_its_tenant_keeps_the_messages_and_the_opt_outs(
    stack: Stack, invoke: Invoke
) -> None:
    (message,) = body(invoke("send", as_key(event("send", {"to": "17072440811", "content": "x"}), "old")))[
        "messages"
    ]
    assert invoke("blocklist", block("+8613800138000", "old"))["statusCode"] == 200
    lookup = as_key(status_event(message["message_id"]), "new")
    assert invoke("message_status", lookup)["statusCode"] == 404  # a new key is a tenant of its own
    tenants().attach("new", tenants().lookup("old"))
    tenants.cache_clear()  # another container, or a minute later
    assert invoke("message_status", as_key(status_event(message["message_id"]), "new"))["statusCode"] == 200
    answer = body(invoke("send", as_key(event("send", {"to": "13800138000", "content": "x"}), "new")))
    assert answer["error"]["code"] == "validation_error"  # the opt-out holds for the new key


def test_a_message_of_no_tenant_is_not_any_keys(
    stack: Stack, invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A receipt for a send never recorded has no tenant: no key of per-key tenancy reads it."""
    ref = MessageRef("230sms", "857319414809231361", number_key("+8617072440811"))
    assert message_store().set_status(ref, Status.DELIVERED, "DELIVRD")
    message_id = f"230-{ref.key}-{ref.nkey}"
    assert invoke("message_status", as_key(status_event(message_id), "key-a"))["statusCode"] == 404
    monkeypatch.setenv("TENANCY", "single")
    config.settings.cache_clear()
    tenants.cache_clear()
    shared = invoke("message_status", as_key(status_event(message_id), "key-a"))
    assert shared["statusCode"] == 200 and body(shared)["status"] == "delivered"
