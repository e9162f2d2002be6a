"""Webhooks through the local stack: a receiver on loopback registers an endpoint; a 230sms send
of `n` numbers, whose receipts the sandbox pushes at once, turns into `n` status changes and so `n`
`message.delivered` events. Counted at the receiver, which checks each signature with the reference
`standardwebhooks` library: events lost and received twice, events a second (first arrival to last),
and the latency of each from its status change (the event's `timestamp`) to its arrival."""

import statistics
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import urllib3

from tests.e2e.client import RunningStack, start_stack, stop_stack
from tests.webhook_receiver import Receiver

TIMEOUT_S = 900.0


@dataclass
class WebhookRun:
    n: int
    received: int = 0
    lost: int = 0
    duplicates: int = 0
    unverified: int = 0
    events_per_s: float = 0.0  # first arrival to last
    latency_s: list[float] = field(default_factory=list)  # status change -> arrival, per event
    seconds: float = 0.0  # from the send's answer to the last arrival

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
    receiver = Receiver()
    with tempfile.TemporaryDirectory(prefix="bench-webhooks-") as folder:
        log = Path(folder) / "stderr.log"
        process, info = start_stack(env, log)
        stack = RunningStack(info, process, log, urllib3.PoolManager(maxsize=8))
        try:
            made = stack.api(
                "POST", "/webhooks/endpoints", {"url": receiver.url, "event_types": ["message.delivered"]}
            )
            receiver.secrets.append(made.json()["secret"])
            stack.sandbox("sms230", "POST", "/_sandbox/settings", {"receipt_delay": 0.1})
            numbers = [f"+86135{i:08d}" for i in range(n)]
            sent = stack.api("POST", "/sms/send", {"to": numbers, "content": "hooks", "provider": "230sms"})
            answered = time.time()
            ids = {m["message_id"] for m in sent.json()["messages"]}
            deadline = time.monotonic() + TIMEOUT_S
            while time.monotonic() < deadline and len({g["id"] for g in receiver.got}) < n:
                time.sleep(0.5)
            time.sleep(2)  # late duplicates, if any
        finally:
            stack.http.clear()
            stop_stack(process, log)
            receiver.close()
    got = [g for g in receiver.got if g["body"]["data"].get("message_id") in ids]
    distinct = {g["id"] for g in got}
    result.received = len(got)
    result.lost = n - len({g["body"]["data"]["message_id"] for g in got})
    result.duplicates = len(got) - len(distinct)
    result.unverified = sum(1 for g in got if not g["verified"])
    if got:
        first, last = min(g["at"] for g in got), max(g["at"] for g in got)
        result.events_per_s = round(len(distinct) / max(last - first, 1e-3), 1)
        result.seconds = round(last - answered, 1)
        changed = [
            datetime.fromisoformat(g["body"]["timestamp"].replace("Z", "+00:00")).timestamp() for g in got
        ]
        result.latency_s = [max(0.0, g["at"] - c) for g, c in zip(got, changed, strict=True)]
    return result


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def median_of(runs: list[WebhookRun]) -> float:
    return statistics.median(r.events_per_s for r in runs)
