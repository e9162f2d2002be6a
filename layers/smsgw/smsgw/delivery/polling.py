"""The scheduled poller: statuses of polled providers, requests a provider took only part of, sends
whose outcome was unknown, and the end of the receipt window. Its reads follow open provider
requests (the sparse `Pending` index), not history."""

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from smsgw.delivery.receipts import settled
from smsgw.delivery.reconcile import reconcile
from smsgw.domain.numbers import number_key
from smsgw.domain.statuses import FINAL, Status
from smsgw.platform.config import settings
from smsgw.platform.observability import count, logger
from smsgw.providers.balances import balances
from smsgw.providers.base import Provider, Receipts
from smsgw.providers.registry import classes, provider
from smsgw.storage.messages import (
    NOT_TAKEN,
    PARTIAL_KEY,
    REQUEST,
    UNKNOWN_KEY,
    MessageRef,
    message_store,
    now_iso,
    numbers_of,
    provider_ids_of,
    request_key,
)

REPORT = ("pending", "queried", "settled", "advanced", "closed", "not_taken", "reconciled")


def poll(now: datetime | None = None) -> dict[str, int]:
    now = now or datetime.now(UTC)
    window_start = now - timedelta(hours=settings().receipt_window_hours)
    report = dict.fromkeys(REPORT, 0)
    for name, cls in classes().items():
        client = provider(name)
        messages = message_store()
        if cls.receipts is Receipts.POLLED:
            _poll(client, now, window_start, report)
            # Without ids nothing can be learnt of unknown sends: they close with the window.
            _close(name, messages.indexed(f"{name}#{UNKNOWN_KEY}", before=window_start), now, report)
        else:
            _close(name, messages.pending(name, submitted_before=window_start), now, report)
            _settle_partial(client, now, window_start, report)
            reconcile(client, now, window_start, report)
    count("RequestsClosed", report["closed"])
    for line in balances():  # each tick: the `ProviderBalance` metric, for the low-balance alarm
        if line.error is not None:
            logger.warning("balance unavailable", extra={"provider": line.provider, "error": str(line.error)})
    logger.info("poll finished", extra=report)
    return report


def _close(name: str, found: Iterable[dict[str, Any]], now: datetime, report: dict[str, int]) -> None:
    """Past the receipt window: the request leaves the index; its messages without news read unknown."""
    messages = message_store()
    for item in found:
        messages.close(str(item["pk"]), now)
        report["closed"] += 1


def _poll(client: Provider, now: datetime, window_start: datetime, report: dict[str, int]) -> None:
    """Query the ids not final yet; write a status item per message whose status changed, and one
    update per request that had changes (its `progress`)."""
    messages = message_store()
    found = list(messages.pending(client.name))
    items = messages.requests(str(i["pk"]) for i in found)
    report["pending"] += len(items)
    cutoff = now_iso(window_start)
    live: dict[str, tuple[dict[str, Any], int]] = {}  # provider id -> its request, position in it
    for item in items:
        if str(item["submitted_at"]) < cutoff:
            _close(client.name, [item], now, report)
            continue
        progress = item.get("progress", {})
        for position, provider_id in enumerate(provider_ids_of(item)):
            if str(progress.get(provider_id, "")) not in FINAL:
                live[str(provider_id)] = (item, position)
    if not live:
        return
    report["queried"] += len(live)
    changes: dict[str, dict[str, str]] = {}
    finals: dict[Status, list[str | None]] = {}  # submission times of the messages turned final
    for update in client.query(list(live)):
        item, position = live.get(update.provider_id, ({}, -1))
        seen = item.get("progress", {}).get(update.provider_id, item.get("status"))
        if position < 0 or str(update.status) == str(seen):
            continue
        ref = MessageRef(client.name, request_key(item), number_key(numbers_of(item)[position]))
        if messages.set_status(ref, update.status, update.provider_status, now) and update.status in FINAL:
            finals.setdefault(update.status, []).append(str(item.get("submitted_at") or "") or None)
        changes.setdefault(str(item["pk"]), {})[update.provider_id] = str(update.status)
        report["settled" if update.status in FINAL else "advanced"] += 1
    for status, submitted in finals.items():
        settled(client.name, status, submitted, now)
    for item in items:
        if changed := changes.get(str(item["pk"])):
            progress = {**item.get("progress", {}), **changed}
            done = all(str(progress.get(i, "")) in FINAL for i in provider_ids_of(item))
            messages.update_request(str(item["pk"]), done=done, progress=progress)
    count("StatusesSettled", sum(1 for c in changes.values() for s in c.values() if s in FINAL), client.name)


def _settle_partial(client: Provider, now: datetime, window_start: datetime, report: dict[str, int]) -> None:
    """Requests the provider took only part of: once as many receipts are in as it took, the numbers
    without one are failed (`NOT_TAKEN`); past the window, unknown like any other."""
    messages = message_store()
    found = list(messages.indexed(f"{client.name}#{PARTIAL_KEY}"))
    _close(
        client.name,
        [i for i in found if i["sk"] != REQUEST and str(i["submitted_at"]) < now_iso(window_start)],
        now,
        report,
    )
    for item in messages.requests(str(i["pk"]) for i in found if i["sk"] == REQUEST):
        key, numbers = request_key(item), numbers_of(item)
        news = messages.statuses([MessageRef(client.name, key, number_key(n)) for n in numbers])
        received = sum(1 for status_item in news.values() if str(status_item["status"]) in FINAL)
        if received >= int(item.get("taken", 0)):
            messages.close(str(item["pk"]), now, closed_as=str(Status.FAILED), closed_status=NOT_TAKEN)
            report["not_taken"] += len(numbers) - received
            count("NumbersNotTaken", len(numbers) - received, client.name)
        elif str(item["submitted_at"]) < now_iso(window_start):
            _close(client.name, [item], now, report)
