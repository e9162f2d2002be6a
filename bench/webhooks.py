"""Webhooks through the local stack, counted at a receiver on loopback that checks each signature
with the reference `standardwebhooks` library. Two runs:

- **as it happens**: a 230sms send of `n` numbers whose receipts the sandbox pushes at once makes
  `n` status changes, so `n` `message.delivered` events: events lost and received twice, and each
  event's latency from its status change (the event's `timestamp`) to its arrival. Here the
  receipts' own pace through the local callback sets the rate.
- **a backlog**: the receiver answers 410 to the first event of another `n` (its endpoint is
  disabled, and every event kept for `/recover`); once all are kept, it answers 200 and
  `/recover` queues the `n` at once: events a second from the recover call to the last arrival is
  what the dispatcher delivers through the local stack.
"""

import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from tests.e2e.client import RunningStack, running_stack
from tests.webhook_receiver import Receiver

TIMEOUT_S = 900.0
SETTLE_S = 5.0  # after the last receipt, for the stream and the dispatcher to keep the last events


@dataclass
class WebhookRun:
    n: int
    received: int = 0
    lost: int = 0
    duplicates: int = 0
    unverified: int = 0
    live_events_per_s: float = 0.0  # as it happens: first arrival to last
    latency_s: list[float] = field(default_factory=list)  # status change -> arrival, per event
    backlog: int = 0  # events /recover queued
    backlog_lost: int = 0
    backlog_events_per_s: float = 0.0  # the recover call to the last arrival
    backlog_queued_s: float = 0.0  # the recover call's answer: every event on the queue

    def percentile(self, share: float) -> float:
        if not self.latency_s:
            return 0.0
        ordered = sorted(self.latency_s)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))]

    def as_dict(self) -> dict[str, Any]:
        answer = asdict(self)
        answer.pop("latency_s")
        return answer | {"p50_s": self.percentile(0.5), "p99_s": self.percentile(0.99)}


def run(n: int = 10_000) -> WebhookRun:
    env = {"API_KEY_RECIPIENTS_PER_MINUTE": "1000000", "API_KEY_RECIPIENTS_PER_DAY": "10000000"}
    result = WebhookRun(n)
    with running_stack(env) as stack:
        stack.sandbox("sms230", "POST", "/_sandbox/settings", {"receipt_delay": 0.1})
        _as_it_happens(stack, result)
        _backlog(stack, result)
    return result


def _register(stack: RunningStack, receiver: Receiver) -> str:
    made = stack.api(
        "POST", "/webhooks/endpoints", {"url": receiver.url, "event_types": ["message.delivered"]}
    )
    receiver.secrets.append(made.json()["secret"])
    return str(made.json()["endpoint_id"])


def _send(stack: RunningStack, n: int, first: int) -> set[str]:
    numbers = [f"+86135{first + i:08d}" for i in range(n)]
    sent = stack.api("POST", "/sms/send", {"to": numbers, "content": "hooks", "provider": "230sms"})
    return {m["message_id"] for m in sent.json()["messages"]}


def _wait(receiver: Receiver, ids: set[str], count: int) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline and len(_arrived(receiver, ids)) < count:
        time.sleep(0.5)


def _arrived(receiver: Receiver, ids: set[str]) -> list[dict[str, Any]]:
    return [g for g in receiver.got if g["status"] == 200 and g["body"]["data"].get("message_id") in ids]


def _as_it_happens(stack: RunningStack, result: WebhookRun) -> None:
    receiver = Receiver()
    try:
        endpoint_id = _register(stack, receiver)
        ids = _send(stack, result.n, 0)
        _wait(receiver, ids, result.n)
        time.sleep(2)  # late duplicates, if any
        got = _arrived(receiver, ids)
        stack.api("DELETE", f"/webhooks/endpoints/{endpoint_id}")
    finally:
        receiver.close()
    distinct = {g["id"] for g in got}
    result.received = len(got)
    result.lost = result.n - len({g["body"]["data"]["message_id"] for g in got})
    result.duplicates = len(got) - len(distinct)
    result.unverified = sum(1 for g in got if not g["verified"])
    if got:
        first, last = min(g["at"] for g in got), max(g["at"] for g in got)
        result.live_events_per_s = round(len(distinct) / max(last - first, 1e-3), 1)
        result.latency_s = [max(0.0, g["at"] - _epoch(g["body"]["timestamp"])) for g in got]


def _backlog(stack: RunningStack, result: WebhookRun) -> None:
    receiver = Receiver()
    receiver.otherwise = 410  # the first event disables the endpoint; the rest are kept
    try:
        endpoint_id = _register(stack, receiver)
        since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 1))
        before = stack.sandbox("sms230", "GET", "/_sandbox/state")["receipts"]["delivered"]
        ids = _send(stack, result.n, result.n)

        def pushed() -> bool:
            return bool(
                stack.sandbox("sms230", "GET", "/_sandbox/state")["receipts"]["delivered"] - before
                >= result.n
            )

        stack.wait_for("every receipt pushed", pushed, timeout=TIMEOUT_S, every=1)
        time.sleep(SETTLE_S)
        receiver.otherwise = 200
        started = time.time()
        recovered = stack.api("POST", f"/webhooks/endpoints/{endpoint_id}/recover", {"since": since})
        result.backlog = int(recovered.json().get("queued", 0))
        result.backlog_queued_s = round(time.time() - started, 2)
        _wait(receiver, ids, result.n)
        got = _arrived(receiver, ids)
    finally:
        receiver.close()
    result.backlog_lost = result.n - len({g["body"]["data"]["message_id"] for g in got})
    if got:
        result.backlog_events_per_s = round(
            len({g["id"] for g in got}) / max(max(g["at"] for g in got) - started, 1e-3), 1
        )


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
