"""Every provider answer read as the documents mean it, through the handlers, each case from a
sandbox switch: numbers refused one by one, fewer numbers taken than sent, answers that prove
nothing was processed, system errors, receipts with masked or other numbers, garbled balances."""

import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from local_stack.events import status_event
from smsgw.delivery import polling
from smsgw.delivery.lookup import find
from smsgw.domain.numbers import number_key
from smsgw.domain.statuses import Kind, Status
from smsgw.storage.items import MessageRef
from smsgw.storage.messages import ProviderRequest, message_store
from tests.conftest import Receiver, cn_numbers
from tests.handlers.conftest import Invoke, Stack, body, event
from tests.handlers.test_callback import receipt_event, taskid_of


def send(invoke: Invoke, to: list[str], provider: str | None = "230sms") -> dict[str, Any]:
    payload: dict[str, Any] = {"to": to, "content": "hello"}
    if provider:
        payload["provider"] = provider
    return invoke("send", event("send", payload))


def status_of(invoke: Invoke, message_id: str) -> dict[str, Any]:
    answer: dict[str, Any] = body(invoke("message_status", status_event(message_id)))
    return answer


def test_bad_numbers_are_split_out_and_the_rest_sent_once(stack: Stack, invoke: Invoke) -> None:
    numbers = cn_numbers(1000)
    bad = {numbers[7], numbers[500], numbers[993]}
    stack.sms230.bad_numbers = {"86" + n for n in bad}
    response = send(invoke, numbers)
    assert response["statusCode"] == 202
    answer = body(response)
    rejected = {m["to"]: m for m in answer["messages"] if m["status"] == "rejected"}
    assert set(rejected) == {"+86" + n for n in bad}
    assert {m["error"]["provider_code"] for m in rejected.values()} == {"104"}
    assert answer["summary"]["submitted"] == 997
    taken = [m for task in stack.sms230.tasks.values() for m in task.mobiles]
    assert len(taken) == len(set(taken)) == 997  # nobody twice
    requests = len(stack.sms230.recorded("/outauth/send"))
    assert requests <= 1 + 3 * 2 * math.ceil(math.log2(1000))  # halving: ≤ 2 per level per bad number
    assert sorted(stack.recorded_numbers()) == sorted("+86" + n for n in numbers if n not in bad)


def test_fewer_taken_than_sent_warns_and_settles_the_rest_failed_after_the_receipts(
    stack: Stack, invoke: Invoke, receiver: Receiver
) -> None:
    stack.sms230.shortfall = 2
    stack.sms230.callback_url = receiver.url
    answer = body(send(invoke, cn_numbers(10)))
    assert answer["summary"]["submitted"] == 10 and answer["summary"]["billed_segments"] == 8
    (warning,) = answer["warnings"]
    assert "took 8 of the 10 numbers" in warning
    for _ in range(8):
        receipt = invoke("callback", receipt_event(**json.loads(receiver.next())))
        assert receipt["body"] == "OK"
    report = invoke("poll_status", event("poll_status"))
    assert report["not_taken"] == 2
    statuses = {m["to"]: status_of(invoke, m["message_id"]) for m in answer["messages"]}
    failed = {to for to, s in statuses.items() if s["status"] == "failed"}
    assert failed == {"+86" + n for n in cn_numbers(10)[-2:]}
    assert {statuses[to]["provider_status"] for to in failed} == {"NOT_TAKEN"}
    assert {s["status"] for to, s in statuses.items() if to not in failed} == {"delivered"}
    assert invoke("poll_status", event("poll_status"))["not_taken"] == 0  # settled once


def test_partial_task_waits_while_receipts_are_missing(stack: Stack, invoke: Invoke) -> None:
    stack.sms230.shortfall = 1
    answer = body(send(invoke, cn_numbers(3)))
    assert invoke("poll_status", event("poll_status"))["not_taken"] == 0  # no receipts yet
    assert {status_of(invoke, m["message_id"])["status"] for m in answer["messages"]} == {"submitted"}


@pytest.mark.parametrize("switch", ["http_status_404", "http_status_405", "wrong_base_path"])
def test_an_answer_proving_nothing_was_processed_fails_over(
    stack: Stack, invoke: Invoke, switch: str
) -> None:
    if switch == "wrong_base_path":
        stack.sms230.base_path = "/smscoreapi"  # we call /outauth/send: the server has no such page
    else:
        stack.sms230.faults.inject("http_status", code=int(switch[-3:]))
    response = send(invoke, ["17072440811", "13800138000"], provider=None)
    assert response["statusCode"] == 200
    answer = body(response)
    assert {(m["status"], m["provider"]) for m in answer["messages"]} == {("submitted", "cmessages")}
    assert answer["failover"][0]["error"]["code"] == "provider_unavailable"
    assert not [i for i in stack.items() if i["status"] == "unknown"]
    assert not stack.sms230.tasks


@pytest.mark.parametrize(("provider", "code"), [("230sms", 999), ("cmessages", 1011)])
def test_a_system_error_is_outcome_unknown_and_never_failed_over(
    stack: Stack, invoke: Invoke, provider: str, code: int
) -> None:
    sandbox, other = (stack.sms230, stack.cm) if provider == "230sms" else (stack.cm, stack.sms230)
    sandbox.faults.inject("error_code", code=code)
    response = send(invoke, ["17072440811"], provider=None if provider == "230sms" else provider)
    assert response["statusCode"] == 202
    assert {m["status"] for m in body(response)["messages"]} == {"unknown"}
    assert other.requests == [] and len(sandbox.requests) == 1


@pytest.mark.parametrize("mobile", ["861707****", "17072440811", "+8617072440811", "8617072440811"])
def test_a_receipt_for_a_one_number_task_settles_it_whatever_the_number_looks_like(
    stack: Stack, invoke: Invoke, mobile: str
) -> None:
    (message,) = body(send(invoke, ["17072440811"]))["messages"]
    receipt = receipt_event(taskid=taskid_of(message["message_id"]), mobile=mobile, times="2026-11-23 17:42")
    assert invoke("callback", receipt)["body"] == "OK"
    settled = status_of(invoke, message["message_id"])
    assert (settled["status"], settled["provider_status"]) == ("delivered", "DELIVRD")
    assert settled["delivered_at"] == "2026-11-23T09:42:00Z"  # Beijing 17:42 is 09:42 UTC


def test_a_masked_receipt_fitting_one_number_of_a_task_settles_that_one(stack: Stack, invoke: Invoke) -> None:
    answer = body(send(invoke, ["17072440811", "13800138000"]))
    taskid = taskid_of(answer["messages"][0]["message_id"])
    assert invoke("callback", receipt_event(taskid=taskid, mobile="861380****"))["body"] == "OK"
    statuses = {m["to"]: status_of(invoke, m["message_id"])["status"] for m in answer["messages"]}
    assert statuses == {"+8613800138000": "delivered", "+8617072440811": "submitted"}


def test_an_unmatched_receipt_is_kept_and_answered_ok(stack: Stack, invoke: Invoke) -> None:
    answer = body(send(invoke, ["13800138000", "13800138001"]))
    taskid = taskid_of(answer["messages"][0]["message_id"])
    for mobile in ("861380****", "86999****"):  # fits both numbers; fits none
        response = invoke("callback", receipt_event(taskid=taskid, mobile=mobile, status="UNDELIV"))
        assert (response["statusCode"], response["body"]) == (200, "OK")
    kept = [i for i in stack.all_items() if str(i["pk"]).startswith("unmatched#230sms#")]
    assert sorted(i["number_hint"] for i in kept) == ["861380****", "86999****"]
    assert {i["provider_status"] for i in kept} == {"UNDELIV"}
    assert {status_of(invoke, m["message_id"])["status"] for m in answer["messages"]} == {"submitted"}


@pytest.mark.parametrize("status", ["UNDELIV", "EXPIRED", "REJECTD", "MBBLACK"])
def test_other_receipt_statuses_are_failed_with_the_raw_status(
    stack: Stack, invoke: Invoke, receiver: Receiver, status: str
) -> None:
    stack.sms230.callback_url = receiver.url
    stack.sms230.receipt_status_for = {"8617072440811": status}
    (message,) = body(send(invoke, ["17072440811"]))["messages"]
    assert invoke("callback", receipt_event(**json.loads(receiver.next())))["body"] == "OK"
    settled = status_of(invoke, message["message_id"])
    assert (settled["status"], settled["provider_status"]) == ("failed", status)


@pytest.mark.parametrize("value", ["n/a", None, [], True, "NaN"])
def test_a_garbled_balance_is_an_error_line_for_that_provider_only(
    stack: Stack, invoke: Invoke, value: Any
) -> None:
    stack.cm.balance = value
    response = invoke("balance", event("balance"))
    assert response["statusCode"] == 200
    lines = {b["provider"]: b for b in body(response)["balances"]}
    assert lines["cmessages"]["error"]["code"] == "provider_unavailable"
    assert lines["230sms"] == {
        "provider": "230sms",
        "supported": False,
        "reason": "230sms has no balance API",
    }


def test_an_unknown_message_settles_when_its_receipt_turns_up(
    stack: Stack, invoke: Invoke, receiver: Receiver
) -> None:
    """The provider sends, then its answer is garbled: the message is `unknown` under an id of ours.
    Its receipt comes under the real taskid; the poller gives its status to the unknown message."""
    stack.sms230.callback_url = receiver.url
    stack.sms230.faults.inject("malformed", times=1)
    (message,) = body(send(invoke, ["17072440811"]))["messages"]
    assert message["status"] == "unknown"
    receipt = json.loads(receiver.next())
    assert invoke("callback", receipt_event(**receipt))["body"] == "OK"
    assert status_of(invoke, message["message_id"])["status"] == "unknown"
    early = invoke("poll_status", event("poll_status"))
    assert early["reconciled"] == 0  # within the grace: its batch might still be recording
    later = polling.poll(datetime.now(UTC) + timedelta(minutes=3))
    assert later["reconciled"] == 1
    settled = status_of(invoke, message["message_id"])
    assert (settled["status"], settled["provider_status"]) == ("delivered", "DELIVRD")
    orphan_id = settled["reconciled_with"]
    assert orphan_id.startswith(f"230-{receipt['taskid']}-")
    # The orphan receipt is of no tenant (no request names one): the store shows its side of the link.
    orphan = find(message_store(), orphan_id)
    assert orphan is not None and orphan["reconciled_with"] == message["message_id"]
    assert polling.poll(datetime.now(UTC) + timedelta(minutes=4))["reconciled"] == 0  # once


def test_a_receipt_that_raced_its_request_is_not_given_to_an_unknown_message(
    stack: Stack, invoke: Invoke
) -> None:
    """A receipt lands before its request is recorded (a race, not a lost answer): once the request
    is recorded it belongs there, even with an unknown send to the same number in the window."""

    stack.sms230.faults.inject("malformed", times=1)
    (unknown,) = body(send(invoke, ["17072440811"]))["messages"]
    assert unknown["status"] == "unknown"
    taskid, number = "857319414809231361", "+8617072440811"
    ref = MessageRef("230sms", taskid, number_key(number))
    assert message_store().set_status(ref, Status.DELIVERED, "DELIVRD")  # the receipt first
    request = ProviderRequest("230sms", taskid, [number], Status.SUBMITTED, "r", Kind.BULK, 1)
    message_store().record([request])  # then its request
    assert polling.poll(datetime.now(UTC) + timedelta(minutes=3))["reconciled"] == 0
    raced = find(message_store(), f"230-{taskid}-{number_key(number)}")  # recorded here with no tenant
    assert raced is not None
    assert (raced["status"], raced["recorded"], raced["reconciled_with"]) == ("delivered", True, None)
    assert status_of(invoke, unknown["message_id"])["status"] == "unknown"
