"""POST /callbacks/230sms/{token}: receipts, repeats, out-of-order arrival, one write per receipt."""

import json
from typing import Any

import boto3
import pytest

from local_stack.events import status_event
from local_stack.lambdas import reset_caches
from smsgw.delivery.lookup import find
from smsgw.domain.numbers import number_key
from smsgw.domain.statuses import Kind, Status
from smsgw.platform import config
from smsgw.providers.registry import provider
from smsgw.storage.items import MessageRef
from smsgw.storage.messages import ProviderRequest, message_store
from tests.handlers.conftest import TOKEN, Invoke, Stack, body, event, header

RECEIPT = json.loads(event("callback")["body"])


def receipt_event(token: str = TOKEN, **fields: Any) -> dict[str, Any]:
    sample = event("callback", {**RECEIPT, **fields})
    sample["pathParameters"] = {"provider": "230sms", "token": token}
    sample["path"] = f"/callbacks/230sms/{token}"
    return sample


def sent_230sms(invoke: Invoke, to: str = "+8617072440811") -> dict[str, Any]:
    answer = body(invoke("send", event("send", {"to": [to], "content": "hi"})))
    message: dict[str, Any] = answer["messages"][0]
    return message


def taskid_of(message_id: str) -> str:
    return message_id.split("-")[1]


def test_receipt_marks_the_message_delivered(stack: Stack, invoke: Invoke) -> None:
    message = sent_230sms(invoke)
    response = invoke("callback", receipt_event(taskid=taskid_of(message["message_id"])))
    assert (response["statusCode"], response["body"]) == (200, "OK")
    assert (header(response, "Content-Type") or "").startswith("text/plain")
    status = body(invoke("message_status", status_event(message["message_id"])))
    assert (status["status"], status["provider_status"]) == ("delivered", "DELIVRD")


def test_other_statuses_are_failed_with_the_raw_status_kept(stack: Stack, invoke: Invoke) -> None:
    message = sent_230sms(invoke)
    invoke("callback", receipt_event(taskid=taskid_of(message["message_id"]), status="UNDELIV"))
    status = body(invoke("message_status", status_event(message["message_id"])))
    assert (status["status"], status["provider_status"]) == ("failed", "UNDELIV")


def test_repeat_changes_nothing_and_final_never_regresses(stack: Stack, invoke: Invoke) -> None:
    message = sent_230sms(invoke)
    taskid = taskid_of(message["message_id"])
    assert invoke("callback", receipt_event(taskid=taskid))["body"] == "OK"
    before = stack.items()
    assert invoke("callback", receipt_event(taskid=taskid))["body"] == "OK"
    assert invoke("callback", receipt_event(taskid=taskid, status="UNDELIV"))["body"] == "OK"
    assert stack.items() == before
    assert body(invoke("message_status", status_event(message["message_id"])))["status"] == "delivered"


def test_one_write_and_no_read_per_receipt(
    stack: Stack, invoke: Invoke, count_dynamodb_calls: list[str]
) -> None:
    invoke("callback", receipt_event())  # warm: secrets read once per container
    message = sent_230sms(invoke)
    count_dynamodb_calls.clear()
    invoke("callback", receipt_event(taskid=taskid_of(message["message_id"])))
    assert count_dynamodb_calls == ["UpdateItem"]  # the message's status item; its request is not touched
    count_dynamodb_calls.clear()
    invoke("callback", receipt_event(taskid="111111111111111111"))  # a message never recorded
    assert count_dynamodb_calls == ["UpdateItem"]  # the same one write: nothing is read to tell


@pytest.mark.parametrize("receipt_first", [True, False])
def test_both_orders_end_in_the_same_state(stack: Stack, receipt_first: bool) -> None:
    """The receipt race: 230sms may push before the send has recorded its batch."""
    table = message_store()
    taskid, number = "857319414809231361", "+8617072440811"
    message_id = provider("230sms").message_id(taskid, number)
    request = ProviderRequest(
        "230sms", taskid, [number], Status.SUBMITTED, "req", Kind.BULK, 1, task_id=taskid
    )
    ref = MessageRef("230sms", taskid, number_key(number))
    steps = [
        lambda: table.set_status(ref, Status.DELIVERED, "DELIVRD"),
        lambda: table.record([request]),
    ]
    for step in steps if receipt_first else reversed(steps):
        step()
    message = find(table, message_id)
    assert message is not None
    assert (message["status"], message["provider_status"], message["to"]) == (
        "delivered",
        "DELIVRD",
        "+8617072440811",
    )
    assert message["recorded"] is True


def test_unknown_taskid_is_kept_for_reconciliation(stack: Stack, invoke: Invoke) -> None:
    response = invoke("callback", receipt_event(taskid="111111111111111111"))
    assert response["body"] == "OK"
    message_id = provider("230sms").message_id("111111111111111111", "+8617072440811")
    kept = find(message_store(), message_id)
    assert kept is not None and (kept["status"], kept["recorded"]) == ("delivered", False)
    # It names no tenant (no request does), so no API key reads it: only the poller, to reconcile.
    assert invoke("message_status", status_event(message_id))["statusCode"] == 404


def test_wrong_token_is_refused_and_nothing_stored(stack: Stack, invoke: Invoke) -> None:
    response = invoke("callback", receipt_event(token="wrong-token"))
    assert response["statusCode"] == 403 and response["body"] != "OK"
    assert stack.items() == []


def test_receipt_for_another_account_is_refused(stack: Stack, invoke: Invoke) -> None:
    response = invoke("callback", receipt_event(apikey="someone-else"))
    assert response["statusCode"] == 403
    assert stack.items() == []


@pytest.mark.parametrize("raw", ["not json", "{}", '{"apikey": "sandbox-apikey"}'])
def test_malformed_receipt_is_400(stack: Stack, invoke: Invoke, raw: str) -> None:
    response = invoke("callback", event("callback", raw))
    assert response["statusCode"] == 400
    assert stack.items() == []


def test_numeric_taskid_keeps_every_digit(stack: Stack, invoke: Invoke) -> None:
    message = sent_230sms(invoke)
    taskid = taskid_of(message["message_id"])
    raw = json.dumps({**RECEIPT}).replace(f'"{RECEIPT["taskid"]}"', taskid)
    assert invoke("callback", event("callback", raw))["body"] == "OK"
    assert body(invoke("message_status", status_event(message["message_id"])))["status"] == "delivered"


def test_storage_failure_is_not_ok_so_230sms_retries(
    stack: Stack, invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MESSAGES_TABLE", "no-such-table")
    message_store.cache_clear()
    config.settings.cache_clear()
    response = invoke("callback", receipt_event())
    assert response["statusCode"] == 503 and response["body"] != "OK"


def test_receipts_pushed_by_the_sandbox_reach_every_message(stack: Stack, invoke: Invoke) -> None:
    """The sandbox's own pushes, delivered to the handler: one per number, all stored."""
    answer = body(invoke("send", event("send", {"to": ["+8617072440811", "+8613800138000"], "content": "x"})))
    (task,) = stack.sms230.tasks.values()
    for mobile in task.mobiles:
        push = {
            "apikey": stack.sms230.apikey,
            "taskid": str(task.taskid),
            "mobile": mobile,
            "status": "DELIVRD",
        }
        assert invoke("callback", receipt_event(**push, times="2026-11-23 17:42"))["body"] == "OK"
    statuses = {
        body(invoke("message_status", status_event(m["message_id"])))["status"] for m in answer["messages"]
    }
    assert statuses == {"delivered"}


def test_the_callback_reads_no_provider_secret(stack: Stack, invoke: Invoke) -> None:
    """Receipts are checked against the account kept with the callback's token: with both providers'
    secrets gone (as the function's grants have it), a receipt is still stored."""
    secrets = boto3.client("secretsmanager")
    for name in ("CMESSAGES_SECRET_ID", "SMS230_SECRET_ID"):
        secrets.delete_secret(SecretId=stack.env[name], ForceDeleteWithoutRecovery=True)
    reset_caches()
    assert invoke("callback", receipt_event())["body"] == "OK"
    assert [i["status"] for i in stack.items() if i["pk"].startswith("num#")] == ["delivered"]
    stranger = receipt_event()
    stranger["body"] = stranger["body"].replace(stack.sms230.apikey, "another-account")
    assert invoke("callback", stranger)["statusCode"] == 403


def test_a_callback_secret_without_the_providers_account_refuses_with_5xx_and_keeps_nothing(
    stack: Stack, invoke: Invoke
) -> None:
    """A deploy step missed (the account not copied beside the token): 503, so 230sms pushes the
    receipt again once it is fixed; counted as a receipt not stored (its alarm)."""
    secrets = boto3.client("secretsmanager")
    secrets.put_secret_value(
        SecretId=stack.env["CALLBACK_TOKEN_SECRET_ID"], SecretString=json.dumps({"token": TOKEN})
    )
    reset_caches()
    response = invoke("callback", receipt_event())
    assert response["statusCode"] == 503 and "receipt credentials" in response["body"]
    assert stack.items() == []
