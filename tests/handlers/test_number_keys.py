"""Numbers are keyed by an HMAC under the deployment's own secret (`NumberKeySecret`), never by a
plain hash anyone can reverse by trying every number. A stack upgraded from the unkeyed keys
(`LEGACY_NUMBER_KEYS=true`) still honours the opt-outs and finishes the messages of before."""

import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from local_stack.events import status_event
from local_stack.lambdas import reset_caches
from smsgw.domain import numbers
from smsgw.domain.statuses import Status
from smsgw.platform.config import ConfigError
from smsgw.storage.items import MessageRef
from smsgw.storage.messages import message_store
from tests.conftest import cn_numbers
from tests.handlers.conftest import Invoke, Stack, api_event, body, event
from tests.handlers.test_callback import receipt_event, sent_230sms, taskid_of
from tests.handlers.test_tenants import as_key, block

NUMBER = "+8613900139000"


def sha256(e164: str) -> str:
    return hashlib.sha256(e164.encode()).hexdigest()


def every_item(stack: Stack) -> str:
    """Every item of every table, as text."""
    client = boto3.client("dynamodb")
    tables = [stack.env[name] for name in ("MESSAGES_TABLE", "LIMITS_TABLE", "BLOCKLIST_TABLE")]
    return json.dumps([client.scan(TableName=t)["Items"] for t in tables])


@pytest.fixture
def upgrade(monkeypatch: pytest.MonkeyPatch) -> Callable[[bool], None]:
    """The stack redeployed with LEGACY_NUMBER_KEYS as given (every container starts afresh)."""

    def redeploy(legacy: bool) -> None:
        monkeypatch.setenv("LEGACY_NUMBER_KEYS", "true" if legacy else "false")
        reset_caches()

    return redeploy


@pytest.fixture
def as_before(monkeypatch: pytest.MonkeyPatch) -> Callable[[Callable[[], Any]], Any]:
    """Run a step as a release before the number key ran it: numbers keyed by plain SHA-256."""

    def run[T](step: Callable[[], T]) -> T:
        with monkeypatch.context() as older:
            older.setattr(numbers, "number_hash", numbers.legacy_number_hash)
            return step()

    return run


def blocked(invoke: Invoke, number: str, key_id: str = "key-a") -> bool:
    path = f"/sms/blocklist/{number.replace('+', '%2B')}"
    answer = invoke(
        "blocklist", as_key(api_event("GET", "/sms/blocklist/{number}", path, {"number": number}), key_id)
    )
    return bool(body(answer)["blocked"])


def unblock(invoke: Invoke, number: str, key_id: str = "key-a") -> int:
    path = f"/sms/blocklist/{number.replace('+', '%2B')}"
    answer = invoke(
        "blocklist", as_key(api_event("DELETE", "/sms/blocklist/{number}", path, {"number": number}), key_id)
    )
    return int(answer["statusCode"])


def send(invoke: Invoke, to: list[str], key_id: str = "key-a") -> dict[str, Any]:
    return invoke("send", as_key(event("send", {"to": to, "content": "hi"}), key_id))


def test_ids_and_keys_are_an_hmac_under_the_deployments_secret(stack: Stack, invoke: Invoke) -> None:
    secret = boto3.client("secretsmanager").get_secret_value(SecretId=stack.env["NUMBER_KEY_SECRET_ID"])
    key = json.loads(secret["SecretString"])["key"].encode()
    assert len(key) >= 32
    message = sent_230sms(invoke, NUMBER)
    keyed = hmac.new(key, NUMBER.encode(), hashlib.sha256).hexdigest()
    assert message["message_id"].rsplit("-", 1)[1] == keyed[:16]
    assert invoke("blocklist", block(NUMBER, "key-a"))["statusCode"] == 200
    invoke("verify_code", event("verify_code", {"to": NUMBER}))
    stored = every_item(stack)
    assert keyed[:32] in stored  # the blocklist entry, the limits
    assert sha256(NUMBER)[:16] not in stored


def test_the_number_key_secret_is_required(
    stack: Stack, invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NUMBER_KEY_SECRET_ID", "")
    reset_caches()
    with pytest.raises(ConfigError, match="NUMBER_KEY_SECRET_ID"):  # Lambda answers 502
        send(invoke, [NUMBER])
    assert stack.sms230.recorded("/outauth/send") == []  # a deploy without the secret sends nothing


@pytest.mark.parametrize("legacy", [True, False], ids=["legacy-keys-read", "legacy-keys-not-read"])
def test_an_opt_out_recorded_before_the_upgrade_still_blocks(
    stack: Stack, invoke: Invoke, as_before: Any, upgrade: Callable[[bool], None], legacy: bool
) -> None:
    assert as_before(lambda: invoke("blocklist", block(NUMBER, "key-a")))["statusCode"] == 200
    upgrade(legacy)

    small = send(invoke, [NUMBER])
    large = send(invoke, [NUMBER, *cn_numbers(120)])  # reads the tenant's set, not each key

    statuses = {m["to"]: m["status"] for m in body(large).get("messages", [])}
    if legacy:  # the opt-out holds, for a small send and a large one; it can be read and removed
        assert small["statusCode"] == 422 and statuses[NUMBER] == "blocked"
        assert blocked(invoke, NUMBER)
        assert unblock(invoke, NUMBER) == 200
        assert not blocked(invoke, NUMBER)
        assert body(send(invoke, [NUMBER]))["messages"][0]["status"] == "submitted"
    else:  # why an upgraded stack sets it: the older opt-out is not found
        assert small["statusCode"] == 200 and statuses[NUMBER] == "submitted"


def test_a_message_sent_before_the_upgrade_takes_its_receipt(
    stack: Stack, invoke: Invoke, as_before: Any, upgrade: Callable[[bool], None]
) -> None:
    message = as_before(lambda: sent_230sms(invoke, NUMBER))
    assert message["message_id"].endswith(sha256(NUMBER)[:16])  # as the older release made it
    upgrade(True)

    receipt = receipt_event(taskid=taskid_of(message["message_id"]), mobile=NUMBER.removeprefix("+"))
    assert invoke("callback", receipt)["body"] == "OK"

    found = body(invoke("message_status", status_event(message["message_id"])))
    assert (found["status"], found["to"]) == ("delivered", NUMBER)


def test_news_of_before_the_upgrade_is_updated_where_it_is(
    stack: Stack, upgrade: Callable[[bool], None]
) -> None:
    upgrade(True)
    store = message_store()
    own, older = numbers.number_keys(NUMBER)
    assert older == sha256(NUMBER)[:16]
    refs = (MessageRef("cmessages", "521", own), MessageRef("cmessages", "521", older))
    store.set_status(refs[1], Status.SENDING, "1")  # written before the upgrade

    assert store.set_status(refs[0], Status.DELIVERED, "2", older=refs[1:])
    assert not store.set_status(refs[0], Status.FAILED, "3", older=refs[1:])  # final is never replaced

    news = store.statuses(list(refs))
    assert list(news) == [refs[1]] and news[refs[1]].status == "delivered"  # no second item
    fresh = (MessageRef("cmessages", "522", own), MessageRef("cmessages", "522", older))
    assert store.set_status(
        fresh[0], Status.SENDING, "", older=fresh[1:]
    )  # nothing from before: under its own key
    assert list(store.statuses(list(fresh))) == [fresh[0]]
