"""The scheduled poller: cmessages statuses in batches, and `unknown` after the receipt window."""

import time
from datetime import UTC, datetime, timedelta

from local_stack.events import status_event
from smsgw.delivery import polling
from smsgw.delivery.lookup import parse_message_id
from smsgw.domain.statuses import Status
from smsgw.storage.messages import ProviderRequest, message_store
from tests.conftest import cn_numbers
from tests.handlers.conftest import Invoke, Stack, body, event


def send_cmessages(invoke: Invoke, count: int) -> list[str]:
    answer = body(
        invoke("send", event("send", {"to": cn_numbers(count), "content": "hi", "provider": "cmessages"}))
    )
    return [m["message_id"] for m in answer["messages"]]


def statuses(invoke: Invoke, ids: list[str]) -> dict[str, str]:
    return {i: body(invoke("message_status", status_event(i)))["status"] for i in ids}


def test_poller_turns_cmessages_statuses_final(stack: Stack, invoke: Invoke) -> None:
    stack.cm.fail_numbers = {"13800000001"}
    ids = send_cmessages(invoke, 3)
    time.sleep(0.2)  # the sandbox settles after 0.1 s
    report = invoke("poll_status", event("poll_status"))
    assert (report["pending"], report["queried"], report["settled"]) == (1, 3, 3)  # one request
    assert statuses(invoke, ids) == {ids[0]: "delivered", ids[1]: "failed", ids[2]: "delivered"}
    assert body(invoke("message_status", status_event(ids[1])))["provider_status"] == "3"
    again = invoke("poll_status", event("poll_status"))
    assert again["pending"] == 0  # its request left the sparse index once all were final
    assert len(stack.cm.recorded("/sms/query")) == 1


def test_intermediate_status_is_written_once(stack: Stack, invoke: Invoke) -> None:
    stack.cm.status_delays = (0.0, 60.0)  # "sending" for a minute
    ids = send_cmessages(invoke, 2)
    assert invoke("poll_status", event("poll_status"))["advanced"] == 2
    assert set(statuses(invoke, ids).values()) == {"sending"}
    assert invoke("poll_status", event("poll_status"))["advanced"] == 0  # unchanged: no write


def test_queries_are_batched(stack: Stack, invoke: Invoke, monkeypatch: object) -> None:
    send_cmessages(invoke, 250)
    report = invoke("poll_status", event("poll_status"))
    assert report["pending"] == 3  # provider requests of 100, 100 and 50
    assert len(stack.cm.recorded("/sms/query")) == 3  # batches of 100
    assert max(len(r.body["id_list"]) for r in stack.cm.recorded("/sms/query")) == 100


def test_messages_past_the_window_become_unknown(stack: Stack, invoke: Invoke) -> None:
    stack.cm.status_delays = (3600.0, 7200.0)  # never final within the test
    cm_ids = send_cmessages(invoke, 2)
    sms230_ids = [m["message_id"] for m in body(invoke("send", event("send")))["messages"]]
    later = datetime.now(UTC) + timedelta(hours=71)
    assert polling.poll(later)["closed"] == 0
    report = polling.poll(datetime.now(UTC) + timedelta(hours=73))
    assert report["closed"] == 2  # one write per provider request, not per message
    assert set(statuses(invoke, cm_ids + sms230_ids).values()) == {"unknown"}
    assert polling.poll(datetime.now(UTC) + timedelta(hours=74))["pending"] == 0


def test_a_late_230sms_receipt_settles_an_unknown_message(stack: Stack, invoke: Invoke) -> None:
    message_id = body(invoke("send", event("send")))["messages"][0]["message_id"]
    polling.poll(datetime.now(UTC) + timedelta(hours=73))
    ref = parse_message_id(message_id)
    assert ref is not None and statuses(invoke, [message_id])[message_id] == "unknown"
    message_store().set_status(ref, Status.DELIVERED, "DELIVRD")
    assert statuses(invoke, [message_id])[message_id] == "delivered"


def test_received_230sms_messages_are_not_overwritten_by_the_window(stack: Stack, invoke: Invoke) -> None:
    message_id = body(invoke("send", event("send")))["messages"][0]["message_id"]
    ref = parse_message_id(message_id)
    assert ref is not None
    message_store().set_status(ref, Status.FAILED, "UNDELIV")
    polling.poll(datetime.now(UTC) + timedelta(hours=73))
    assert statuses(invoke, [message_id])[message_id] == "failed"


def test_poller_reads_follow_the_pending_count(
    stack: Stack, invoke: Invoke, count_dynamodb_calls: list[str]
) -> None:
    """Settled history costs nothing: only the sparse index is read, one Query per shard, and the
    open requests' items."""
    settled = [
        ProviderRequest("cmessages", f"h{i}", ["+8613800000000"], Status.SUBMITTED, "r", "bulk", 1)
        for i in range(500)
    ]
    history = [message_store().request_item(r, datetime.now(UTC)) for r in settled]
    message_store().put_all([{k: v for k, v in i.items() if k != "pending_shard"} for i in history])
    stack.cm.status_delays = (3600.0, 7200.0)
    send_cmessages(invoke, 10)
    count_dynamodb_calls.clear()
    report = polling.poll()
    assert report["pending"] == 1
    shards = message_store().pending_shards
    # Both providers' shards; 230sms' partly taken and unknown requests; cmessages' unknown ones;
    # one BatchGetItem for cmessages' open request; no Scan, nothing else.
    assert sorted(count_dynamodb_calls) == ["BatchGetItem"] + ["Query"] * (2 * shards + 3)
