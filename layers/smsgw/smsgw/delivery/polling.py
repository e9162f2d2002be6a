"""The scheduled poller: statuses of polled providers, requests a provider took only part of, sends
whose outcome was unknown, and the end of the receipt window. Its reads follow open provider
requests (the sparse `Pending` index), not history."""

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from smsgw.delivery.receipts import settled
from smsgw.delivery.reconcile import reconcile
from smsgw.domain.numbers import number_keys
from smsgw.domain.statuses import FINAL, Status
from smsgw.platform.config import settings
from smsgw.platform.observability import count, logger
from smsgw.providers.balances import balances
from smsgw.providers.base import Provider, Receipts
from smsgw.providers.registry import classes, provider
from smsgw.storage.items import (
    NOT_TAKEN,
    PARTIAL_KEY,
    UNKNOWN_KEY,
    IndexEntry,
    MessageRef,
    RequestItem,
    now_iso,
)
from smsgw.storage.messages import message_store

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


def _close(
    name: str, found: Iterable[IndexEntry | RequestItem], now: datetime, report: dict[str, int]
) -> None:
    """Past the receipt window: the request leaves the index; its messages without news read unknown."""
    messages = message_store()
    for item in found:
        messages.close(item.pk, now)
        report["closed"] += 1


def _poll(client: Provider, now: datetime, window_start: datetime, report: dict[str, int]) -> None:
    """Query the ids not final yet; write a status item per message whose status changed, and one
    update per request that had changes (its `progress`)."""
    messages = message_store()
    found = list(messages.pending(client.name))
    items = messages.requests(i.pk for i in found)
    report["pending"] += len(items)
    cutoff = now_iso(window_start)
    live: dict[str, tuple[RequestItem, int]] = {}  # provider id -> its request, position in it
    for item in items:
        if item.submitted_at < cutoff:
            _close(client.name, [item], now, report)
            continue
        for position, provider_id in enumerate(item.provider_ids):
            if item.progress.get(provider_id, "") not in FINAL:
                live[provider_id] = (item, position)
    if not live:
        return
    report["queried"] += len(live)
    changes: dict[str, dict[str, str]] = {}
    finals: dict[Status, list[str | None]] = {}  # submission times of the messages turned final
    for update in client.query(list(live)):
        if update.provider_id not in live:
            continue
        item, position = live[update.provider_id]
        if str(update.status) == item.progress.get(update.provider_id, item.status):
            continue
        own, *older = (MessageRef(client.name, item.key, k) for k in number_keys(item.numbers[position]))
        moved = messages.set_status(own, update.status, update.provider_status, now, older=tuple(older))
        if moved and update.status in FINAL:
            finals.setdefault(update.status, []).append(item.submitted_at or None)
        changes.setdefault(item.pk, {})[update.provider_id] = str(update.status)
        report["settled" if update.status in FINAL else "advanced"] += 1
    for status, submitted in finals.items():
        settled(client.name, status, submitted, now)
    for item in items:
        if changed := changes.get(item.pk):
            progress = item.progress | changed
            done = all(progress.get(i, "") in FINAL for i in item.provider_ids)
            messages.update_request(item.pk, done=done, progress=progress)
    count("StatusesSettled", sum(1 for c in changes.values() for s in c.values() if s in FINAL), client.name)


def _settle_partial(client: Provider, now: datetime, window_start: datetime, report: dict[str, int]) -> None:
    """Requests the provider took only part of: once as many receipts are in as it took, the numbers
    without one are failed (`NOT_TAKEN`); past the window, unknown like any other."""
    messages = message_store()
    found = messages.indexed(f"{client.name}#{PARTIAL_KEY}")
    for item in messages.requests(i.pk for i in found):
        numbers = item.numbers
        news = messages.statuses(
            [MessageRef(client.name, item.key, k) for n in numbers for k in number_keys(n)]
        )
        received = sum(1 for status_item in news.values() if status_item.status in FINAL)
        if received >= (item.taken or 0):
            messages.close(item.pk, now, closed_as=str(Status.FAILED), closed_status=NOT_TAKEN)
            report["not_taken"] += len(numbers) - received
            count("NumbersNotTaken", len(numbers) - received, client.name)
        elif item.submitted_at < now_iso(window_start):
            _close(client.name, [item], now, report)
