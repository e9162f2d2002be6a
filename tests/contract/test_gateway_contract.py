"""The same contract through the handlers, with the test-only provider plugged in by configuration
alone: a send through each provider is recorded, settled by its receipts or by polling, and read."""

import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from local_stack.events import status_event
from local_stack.lambdas import reset_caches
from smsgw.providers.base import Receipts
from tests.contract.conftest import MODULES, PROVIDERS, Receiver
from tests.handlers.conftest import TOKEN, Invoke, Stack, body, event, invoke, stack  # noqa: F401
from tests.plugin.fakepush_sandbox import FakePushSandbox


@pytest.fixture
def gateway(stack: Stack, receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:  # noqa: F811
    """The handler stack with "fakepush" added: a module path, a base URL and a secret."""
    with FakePushSandbox(callback_url=receiver.url) as fake:
        secret = boto3.client("secretsmanager").create_secret(
            Name="fakepush", SecretString=json.dumps(fake.secret)
        )
        # Its receipts are checked against the account it names, kept with the callback's token.
        secrets = boto3.client("secretsmanager")
        callback_secret = stack.env["CALLBACK_TOKEN_SECRET_ID"]
        kept = json.loads(secrets.get_secret_value(SecretId=callback_secret)["SecretString"])
        kept["receipts"]["fakepush"] = {"account": fake.secret["account"]}
        secrets.put_secret_value(SecretId=callback_secret, SecretString=json.dumps(kept))
        monkeypatch.setenv("PROVIDER_MODULES", MODULES)
        monkeypatch.setenv("FAKEPUSH_BASE_URL", fake.url)
        monkeypatch.setenv("FAKEPUSH_SECRET_ID", secret["ARN"])
        stack.sms230.callback_url = receiver.url
        reset_caches()
        yield stack
    reset_caches()


def callback(provider: str, raw: bytes) -> dict[str, Any]:
    sample = event("callback", raw.decode())
    sample["pathParameters"] = {"provider": provider, "token": TOKEN}
    sample["path"] = f"/callbacks/{provider}/{TOKEN}"
    return sample


@pytest.mark.parametrize("name", sorted(PROVIDERS))
def test_send_settle_and_read_through_every_provider(
    gateway: Stack,
    invoke: Invoke,  # noqa: F811
    receiver: Receiver,
    name: str,
) -> None:
    sent = invoke("send", event("send", {"to": "+8613800138000", "content": "hello", "provider": name}))
    assert sent["statusCode"] == 200, sent["body"]
    (message,) = body(sent)["messages"]
    assert (message["provider"], message["status"]) == (name, "submitted")
    if PROVIDERS[name].cls.receipts is Receipts.PUSHED:
        answer = invoke("callback", callback(name, receiver.next()))
        assert (answer["statusCode"], answer["body"]) == (200, "OK")
    else:
        deadline = time.monotonic() + 5
        while invoke("poll_status", event("poll_status"))["settled"] == 0:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    status = body(invoke("message_status", status_event(message["message_id"])))
    assert (status["status"], status["provider"], status["recorded"]) == ("delivered", name, True)


def test_a_plugged_provider_appears_in_balance_and_openapi(gateway: Stack, invoke: Invoke) -> None:  # noqa: F811
    balances = {b["provider"]: b for b in body(invoke("balance", event("balance")))["balances"]}
    assert balances["fakepush"] == {
        "provider": "fakepush",
        "supported": False,
        "reason": "fakepush has no balance API",
    }
    assert set(balances) == set(PROVIDERS)
    document = body(invoke("openapi", event("balance", path="/openapi.json", resource="/openapi.json")))
    send = document["paths"]["/sms/send"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert set(send["properties"]["provider"]["enum"]) == set(PROVIDERS)
    assert send["properties"]["tag"]["pattern"] == "^[a-z]{1,8}$"


def test_options_are_checked_by_the_provider_that_declares_them(gateway: Stack, invoke: Invoke) -> None:  # noqa: F811
    def fields(request: dict[str, Any]) -> dict[str, str]:
        answer = invoke("send", event("send", {"to": "+8613800138000", "content": "hi", **request}))
        assert answer["statusCode"] == 422
        return {f["field"]: f["message"] for f in body(answer)["error"]["fields"]}

    assert fields({"provider": "cmessages", "tag": "news"}) == {"tag": "is not an option of cmessages"}
    assert fields({"provider": "fakepush", "tag": "NEWS!"}) == {"tag": "must match [a-z]{1,8}"}
    assert fields({"provider": "fakepush", "sender_id": "AB12"}) == {
        "sender_id": "is not an option of fakepush"
    }
    assert gateway.sms230.requests == [] and gateway.cm.requests == []
