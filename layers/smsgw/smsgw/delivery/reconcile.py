"""Receipts for sends whose outcome was unknown.

When a provider sent but its answer was lost, the request is recorded `unknown` under a key of our
own; its receipts then come under the provider's task id, which we never learnt, and land on status
items of their own (`recorded: false`). Status items are keyed by number, so the poller looks up the
unknown request's numbers: a receipt under a task we have no record of, received after the unknown
send and more than GRACE ago (by then any send has recorded its requests), is given to the unknown
message, and the two are linked (`reconciled_from` / `reconciled_to`). A receipt is given once.
This runs when the request is GRACE old, every RECONCILE_EVERY after, and when the window closes.
"""

from datetime import datetime, timedelta
from typing import Any

from smsgw.domain.numbers import number_key
from smsgw.domain.statuses import FINAL, Status
from smsgw.platform.observability import count
from smsgw.providers.base import Provider
from smsgw.storage.messages import (
    REQUEST,
    UNKNOWN_KEY,
    MessageRef,
    message_store,
    now_iso,
    numbers_of,
    request_key,
)

GRACE = timedelta(minutes=2)  # longer than any send takes to record its requests
RECONCILE_EVERY = timedelta(hours=1)


def reconcile(client: Provider, now: datetime, window_start: datetime, report: dict[str, int]) -> None:
    messages = message_store()
    found = messages.indexed(f"{client.name}#{UNKNOWN_KEY}", before=now - GRACE)
    for item in messages.requests(str(i["pk"]) for i in found if i["sk"] == REQUEST):
        closing = str(item["submitted_at"]) < now_iso(window_start)
        last = item.get("reconciled_at")
        if not closing and last and str(last) > now_iso(now - RECONCILE_EVERY):
            continue
        report["reconciled"] += _reconcile_request(client, item, now)
        if closing:
            messages.close(str(item["pk"]), now)
            report["closed"] += 1
        else:
            messages.update_request(str(item["pk"]), done=False, reconciled_at=now_iso(now))


def _reconcile_request(client: Provider, item: dict[str, Any], now: datetime) -> int:
    messages, key = message_store(), request_key(item)
    since, settled_before = str(item["submitted_at"]), now_iso(now - GRACE)
    recorded: dict[str, bool] = {}  # task id -> do we have its request
    reconciled = 0
    for number in numbers_of(item):
        nkey = number_key(number)
        history = sorted(messages.number_history(client.name, nkey), key=lambda h: str(h.get("first_at", "")))
        if any(h["sk"] == key and str(h["status"]) in FINAL for h in history):
            continue
        for news in history:
            task = str(news["sk"])
            if (
                task == key
                or "reconciled_to" in news
                or not since <= str(news.get("first_at", "")) < settled_before
            ):
                continue
            if task not in recorded:
                recorded[task] = messages.request(client.name, task) is not None
            if recorded[task]:
                continue
            orphan = MessageRef(client.name, task, nkey)
            if messages.link(orphan, reconciled_to=client.message_id(key, number)):
                messages.set_status(
                    MessageRef(client.name, key, nkey),
                    Status(str(news["status"])),
                    str(news.get("provider_status", "")),
                    now,
                    extra={
                        "provider_id": task,
                        "reconciled_from": client.message_id(task, number),
                        **{k: str(news[k]) for k in ("provider_time", "delivered_at") if news.get(k)},
                    },
                )
                reconciled += 1
                count("ReceiptsReconciled", 1, client.name)
            break
    return reconciled
