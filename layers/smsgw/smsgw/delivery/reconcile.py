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

from smsgw.domain.numbers import number_keys
from smsgw.domain.statuses import FINAL, Status
from smsgw.platform.observability import count
from smsgw.providers.base import Provider
from smsgw.storage.items import UNKNOWN_KEY, MessageRef, RequestItem, now_iso
from smsgw.storage.messages import message_store

GRACE = timedelta(minutes=2)  # longer than any send takes to record its requests
RECONCILE_EVERY = timedelta(hours=1)


def reconcile(client: Provider, now: datetime, window_start: datetime, report: dict[str, int]) -> None:
    messages = message_store()
    found = messages.indexed(f"{client.name}#{UNKNOWN_KEY}", before=now - GRACE)
    for item in messages.requests(i.pk for i in found):
        closing = item.submitted_at < now_iso(window_start)
        last = item.reconciled_at
        if not closing and last and last > now_iso(now - RECONCILE_EVERY):
            continue
        report["reconciled"] += _reconcile_request(client, item, now)
        if closing:
            messages.close(item.pk, now)
            report["closed"] += 1
        else:
            messages.update_request(item.pk, done=False, reconciled_at=now_iso(now))


def _reconcile_request(client: Provider, item: RequestItem, now: datetime) -> int:
    messages, key = message_store(), item.key
    since, settled_before = item.submitted_at, now_iso(now - GRACE)
    recorded: dict[str, bool] = {}  # task id -> do we have its request
    reconciled = 0
    for number in item.numbers:
        nkeys = number_keys(number)  # its own, then (LEGACY_NUMBER_KEYS) the unkeyed one
        history = sorted(
            (h for nkey in nkeys for h in messages.number_history(client.name, nkey)),
            key=lambda h: h.first_at,
        )
        if any(h.ref.key == key and h.status in FINAL for h in history):
            continue
        for news in history:
            task = news.ref.key
            if task == key or news.reconciled_to is not None or not since <= news.first_at < settled_before:
                continue
            if task not in recorded:
                recorded[task] = messages.request(client.name, task) is not None
            if recorded[task]:
                continue
            if messages.link(news.ref, reconciled_to=client.message_id(key, number)):
                messages.set_status(
                    MessageRef(client.name, key, nkeys[0]),
                    Status(news.status),
                    news.provider_status or "",
                    now,
                    extra={
                        "provider_id": task,
                        "reconciled_from": client.message_id(task, number),
                        **{
                            k: v
                            for k, v in (
                                ("provider_time", news.provider_time),
                                ("delivered_at", news.delivered_at),
                            )
                            if v
                        },
                    },
                    older=tuple(MessageRef(client.name, key, nkey) for nkey in nkeys[1:]),
                )
                reconciled += 1
                count("ReceiptsReconciled", 1, client.name)
            break
    return reconciled
