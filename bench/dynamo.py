"""DynamoDB calls: per send (from the handler runs), per receipt, per poller cycle.

Calls are counted by a `before-call.dynamodb` hook on boto3's default session, items read by an
`after-call.dynamodb` hook summing `Count` / `ScannedCount` (see bench.stack).
"""

import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from smsgw.delivery import polling
from smsgw.domain.statuses import Kind, Status
from smsgw.storage.items import now_iso
from smsgw.storage.messages import ProviderRequest, message_store

from .stack import Stack, cn_numbers, send_event

HISTORY = 100_000
PENDING = 1_000


def expected_send_calls(n: int, requests: int, paced: bool = False, new_key: bool = True) -> dict[str, int]:
    """ceil(requests/25) BatchWriteItem (one item per provider request), one BatchGetItem (the
    blocklist: the tenant's set, or under 100 recipients their own keys), one TransactWriteItems
    (API-key quota), and for an API key the container has not seen in the last minute one GetItem
    (its tenant). A provider with an account rate adds the asks for places in it (UpdateItem,
    shared across containers), checked apart (`rate_asks_fit`)."""
    return {
        "BatchGetItem": 1,
        "BatchWriteItem": math.ceil(requests / 25),
        "TransactWriteItems": 1,
    } | ({"GetItem": 1} if new_key else {})


def rate_asks_fit(calls: dict[str, int], paced: bool) -> bool:
    """A paced provider's requests ask for rate places (at least one ask; how many depends on
    timing: requests waiting together share one, a place granted too late is asked for again);
    an unpaced one asks none."""
    asks = calls.get("UpdateItem", 0)
    return asks >= 1 if paced else asks == 0


def _send_body(count: int) -> dict[str, Any]:
    return {"to": cn_numbers(count, start=15900000000), "content": "poll me", "provider": "cmessages"}


@dataclass
class PollCycle:
    history: int
    pending: int
    report: dict[str, int]
    ops: dict[str, int]
    items_count: int
    items_scanned: int
    wall_s: float


def _poll(stack: Stack, history: int) -> PollCycle:
    stack.dynamodb.reset()
    start = time.perf_counter()
    report = polling.poll()
    wall = time.perf_counter() - start
    snap = stack.dynamodb.snapshot()
    return PollCycle(
        history,
        report["pending"],
        report,
        snap["ops"],
        sum(snap["count"].values()),
        sum(snap["scanned"].values()),
        wall,
    )


def poller(stack: Stack, history: int = HISTORY, pending: int = PENDING) -> dict[str, Any]:
    """`pending` cmessages messages awaiting a status (sent through the handler; the sandbox keeps
    them waiting, so the cycle writes nothing), polled with no history, then again after `history`
    settled messages were recorded directly (closed requests of 100: not in the sparse index)."""
    response = stack.invoke("send", send_event(_send_body(pending), "bench-poller"))
    if response["statusCode"] != 200:
        raise RuntimeError(f"poller setup send failed: {response['body'][:300]}")
    without_history = _poll(stack, 0)
    now = datetime.now(UTC)
    numbers = cn_numbers(100, start=13700000000)
    settled = [
        message_store().request_item(
            ProviderRequest("cmessages", f"h{i}", numbers, Status.SUBMITTED, "bench", Kind.BULK, 1), now
        )
        for i in range(math.ceil(history / 100))
    ]
    for item in settled:
        del item["pending_shard"]
        item["closed_at"] = now_iso(now)
    start = time.perf_counter()
    message_store().put_all(settled)
    record_s = time.perf_counter() - start
    with_history = _poll(stack, history)
    return {
        "pending": pending,
        "history": history,
        "shards": message_store().pending_shards,
        "record_history_s": record_s,
        "cycles": [vars(without_history), vars(with_history)],
    }
