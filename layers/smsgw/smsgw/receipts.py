"""Final statuses: receipts pushed to the callback, and statuses polled on a schedule."""

import hmac
from datetime import UTC, datetime, timedelta
from typing import Any

from . import store as st
from .config import settings
from .messages import FINAL
from .numbers import number_hash, parse_number
from .observability import count, logger
from .providers import Provider, Receipts
from .providers.base import ReceiptRefused, StatusUpdate
from .providers.registry import classes, provider
from .reconcile import reconcile
from .tasks import task_store

__all__ = ["ReceiptRefused", "accept_receipt", "poll"]


def accept_receipt(provider_name: str, token: str, body: str | bytes) -> bool:
    """Store one pushed receipt. True if it changed the message, False if already known; raises
    ReceiptRefused otherwise. Answering OK is left to the caller, after the write."""
    from aws_lambda_powertools.utilities import parameters  # noqa: PLC0415

    expected = str(parameters.get_secret(settings().callback_token_secret_id, transform="json")["token"])
    if not hmac.compare_digest(token.encode(), expected.encode()):
        raise ReceiptRefused(403, "unknown callback token")
    cls = classes().get(provider_name)
    if cls is None or cls.receipts is not Receipts.PUSHED:
        raise ReceiptRefused(404, "no provider pushes receipts here")
    client = provider(provider_name)
    update = client.parse_receipt(body)
    number = _match(client, update)
    if number is None:
        task_store().keep_unmatched(client.name, update)
        count("ReceiptsUnmatched", 1, client.name)
        return False
    orphan = {  # kept on the receipt's own item only if its message is not recorded
        "provider": client.name,
        "provider_id": update.provider_id,
        "number_key": number_hash(number),
        "submitted_at": st.now_iso(),
        "pending_shard": f"{client.name}#{st.ORPHAN}",
    }
    changed = st.message_store().apply_receipt(
        client.message_id(update.provider_id, number),
        update.status,
        update.provider_status,
        update.provider_time or "",
        delivered_at=update.at,
        orphan=orphan,
    )
    count("ReceiptsStored" if changed else "ReceiptsRepeated", 1, client.name)
    return changed


def _match(client: Provider, update: StatusUpdate) -> str | None:
    """The number a receipt is about (its message id follows). A whole number needs no read (a
    receipt for a task we never recorded is kept under it, `recorded: false`, for reconciliation).
    A masked or partial number is matched against the task's numbers (one read): the only number
    of the task, or the only one that fits."""
    if update.number:
        return update.number
    candidates = task_store().numbers(client.name, update.provider_id)
    fitting = [n for n in candidates if _fits(update.number_hint, n)]
    chosen = candidates if len(candidates) == 1 else fitting
    return chosen[0] if len(chosen) == 1 else None


def _fits(hint: str, e164: str) -> bool:
    """`861234****` fits +8612345678901: the digits shown before and after the stars match the
    number written with or without its country code."""
    shown = hint.removeprefix("+")
    head, stars, rest = shown.partition("*")
    tail = rest.strip("*")
    number = e164.removeprefix("+")
    forms = {number, number[len(str(parse_number(e164).country_code)) :]}
    if not stars:
        return shown in forms
    return any(f.startswith(head) and f.endswith(tail) and len(f) >= len(head) + len(tail) for f in forms)


def poll(now: datetime | None = None) -> dict[str, int]:
    """Apply polled statuses to pending messages; settle messages past the receipt window."""
    now = now or datetime.now(UTC)
    report = dict.fromkeys(("pending", "queried", "settled", "advanced", "expired", "not_taken"), 0)
    report |= {"merged": 0, "reconciled": 0}
    for name, cls in classes().items():
        if cls.receipts is Receipts.POLLED:
            _poll(provider(name), now, report)
        else:
            _settle_partial(name, now, report)
            reconcile(name, now, _window_start(now), report)
            _expire_pushed(name, now, report)
    count("MessagesExpired", report["expired"])
    logger.info("poll finished", extra=report)
    return report


def _window_start(now: datetime) -> datetime:
    return now - timedelta(hours=settings().receipt_window_hours)


def _poll(client: Provider, now: datetime, report: dict[str, int]) -> None:
    store = st.message_store()
    cutoff = st.now_iso(_window_start(now))
    live: dict[str, dict[str, Any]] = {}
    for item in store.pending(client.name):
        report["pending"] += 1
        if item["submitted_at"] < cutoff:
            store.expire(item, now)
            report["expired"] += 1
        elif item.get("provider_id"):
            live[str(item["provider_id"])] = item
    if not live:
        return
    settled = 0
    report["queried"] += len(live)
    for update in client.query(list(live)):
        polled = live.get(update.provider_id)
        if polled is None or update.status == polled.get("status"):
            continue
        if store.apply_poll(polled["pk"], update.status, update.provider_status, now):
            final = update.status in FINAL
            settled += final
            report["settled" if final else "advanced"] += 1
    count("StatusesSettled", settled, client.name)


def _settle_partial(name: str, now: datetime, report: dict[str, int]) -> None:
    """Tasks the provider took only part of: once their receipts are in, the rest are failed."""
    tasks = task_store()
    for item in tasks.partial(name):
        client = provider(name)
        ids = {str(n): client.message_id(str(item["provider_id"]), str(n)) for n in item["numbers"]}
        failed = tasks.settle_partial(item, ids, _window_start(now), now)
        if failed:
            report["not_taken"] += failed
            count("NumbersNotTaken", failed, name)


def _expire_pushed(name: str, now: datetime, report: dict[str, int]) -> None:
    store = st.message_store()
    for item in store.pending(name, submitted_before=_window_start(now)):
        store.expire(item, now)
        report["expired"] += 1
