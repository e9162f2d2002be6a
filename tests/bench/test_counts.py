"""Counts the benchmark reports that tests/handlers does not pin down: the items the poller reads
(not only its Query calls) follow the pending count whatever the history, and a send of more than
100 recipients reads the blocklist once (the tenant's set)."""

from bench.dynamo import expected_send_calls, poller
from bench.stack import Stack, cn_numbers, send_event


def test_poller_items_read_follow_pending_not_history() -> None:
    with Stack(cm_status_delays=(3600.0, 7200.0)) as stack:
        result = poller(stack, history=300, pending=30)
    without_history, with_history = result["cycles"]
    # Two providers' shards; for 230sms one Query of partly taken requests and one of unknown ones;
    # cmessages' unknown ones; one BatchGetItem for the open cmessages request (30 numbers).
    expected = {"Query": 2 * result["shards"] + 3, "BatchGetItem": 1}
    assert with_history["ops"] == without_history["ops"] == expected
    assert with_history["items_count"] == with_history["items_scanned"] == 1  # its request, not 3 more
    assert without_history["items_scanned"] == 1


def test_a_large_send_reads_the_blocklist_once() -> None:
    body = {"to": cn_numbers(250), "content": "hi", "provider": "cmessages"}
    with Stack() as stack:
        stack.dynamodb.reset()
        response = stack.invoke("send", send_event(body, "test-key"))
        calls = stack.dynamodb.snapshot()["ops"]
    assert response["statusCode"] == 200
    assert calls == expected_send_calls(250, requests=3)
    # The tenant of a key this container has not seen yet: one GetItem, then remembered for a minute.
    assert calls == {"GetItem": 1, "BatchGetItem": 1, "BatchWriteItem": 1, "TransactWriteItems": 1}
