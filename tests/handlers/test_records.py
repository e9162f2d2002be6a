"""What a message costs in DynamoDB over its life, counted: one item per provider request, one write
per receipt, two reads per lookup, one write per request at the end of the window; and items of the
earlier shape (one per message) still read and drained."""

from datetime import UTC, datetime, timedelta
from typing import Any

from local_stack.events import status_event
from smsgw.delivery import polling
from smsgw.domain.numbers import number_key
from tests.conftest import cn_numbers
from tests.handlers.conftest import Invoke, Stack, body, event
from tests.handlers.test_callback import receipt_event, taskid_of


def send(invoke: Invoke, numbers: list[str], provider: str = "230sms") -> dict[str, Any]:
    answer: dict[str, Any] = body(
        invoke("send", event("send", {"to": numbers, "content": "hi", "provider": provider}))
    )
    return answer


def index_keys(stack: Stack) -> list[str]:
    return sorted(str(i["pending_shard"]) for i in stack.all_items() if "pending_shard" in i)


def test_a_230sms_message_costs_about_one_write_over_its_life(
    stack: Stack, invoke: Invoke, count_dynamodb_calls: list[str]
) -> None:
    # Warm: the callback token is read once per container (a failure: no delivery latency asked).
    invoke("callback", receipt_event(status="UNDELIV"))
    numbers = cn_numbers(1200)
    count_dynamodb_calls.clear()
    answer = send(invoke, numbers)
    assert count_dynamodb_calls.count("BatchWriteItem") == 1  # two request items (1,000 + 200), one call
    assert len(stack.requests()) == 2 and len(index_keys(stack)) == 2  # the index holds requests
    count_dynamodb_calls.clear()
    delivered = answer["messages"][1000:]  # the second request's 200
    for message in delivered:
        mobile = "86" + message["to"].removeprefix("+86")
        invoke("callback", receipt_event(taskid=taskid_of(message["message_id"]), mobile=mobile))
    # One write per receipt; one read for the request's 200 (its submission time, for the delivery
    # latency: read by the 20th receipt, then kept by the container for the rest).
    assert count_dynamodb_calls.count("UpdateItem") == 200
    assert count_dynamodb_calls == ["UpdateItem"] * 20 + ["GetItem"] + ["UpdateItem"] * 180
    count_dynamodb_calls.clear()
    report = polling.poll(datetime.now(UTC) + timedelta(hours=73))
    assert report["closed"] == 2 and count_dynamodb_calls.count("UpdateItem") == 2  # one per request
    assert index_keys(stack) == []

    # Over their whole life the 200 delivered cost 200 receipts' writes plus their request's 2
    # (recorded, closed): 1.01 writes each. The 1,000 without receipts cost 2 writes in all.
    def status(message: dict[str, Any]) -> str:
        return str(body(invoke("message_status", status_event(message["message_id"])))["status"])

    assert {status(m) for m in delivered[:20]} == {"delivered"}
    assert {status(m) for m in answer["messages"][:20]} == {"unknown"}


def test_a_lookup_is_one_batch_read_of_two_items(
    stack: Stack, invoke: Invoke, count_dynamodb_calls: list[str]
) -> None:
    message = send(invoke, ["17072440811"])["messages"][0]
    count_dynamodb_calls.clear()
    shown = body(invoke("message_status", status_event(message["message_id"])))
    assert count_dynamodb_calls == ["BatchGetItem"]
    assert (shown["status"], shown["to"], shown["recorded"]) == ("submitted", "+8617072440811", True)


def test_a_forged_number_key_in_a_real_request_is_not_found(stack: Stack, invoke: Invoke) -> None:
    message = send(invoke, ["17072440811"])["messages"][0]
    forged = message["message_id"][:-16] + number_key("+8613800138000")
    assert invoke("message_status", status_event(forged))["statusCode"] == 404


def test_cmessages_polling_writes_only_what_changed(
    stack: Stack, invoke: Invoke, count_dynamodb_calls: list[str]
) -> None:
    stack.cm.status_delays = (0.0, 3600.0)  # sending at once, final in an hour
    send(invoke, cn_numbers(150), "cmessages")
    count_dynamodb_calls.clear()
    first = polling.poll()
    assert (first["pending"], first["advanced"]) == (2, 150)
    # 150 status items and one `progress` update per request
    assert count_dynamodb_calls.count("UpdateItem") == 150 + 2
    count_dynamodb_calls.clear()
    again = polling.poll()
    assert (again["pending"], again["advanced"]) == (2, 0)
    assert "UpdateItem" not in count_dynamodb_calls  # nothing changed: nothing written
