"""Final statuses: receipts pushed to the callback, and statuses polled on a schedule."""

import hmac
from datetime import UTC, datetime, timedelta
from typing import Any

from . import store as st
from .config import settings
from .messages import FINAL
from .observability import count, logger
from .providers import Provider, Receipts
from .providers.base import ReceiptRefused
from .providers.registry import classes, provider

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
    changed = st.message_store().apply_receipt(
        client.message_id(update.provider_id, update.number or ""),
        update.status,
        update.provider_status,
        update.provider_time or "",
    )
    count("ReceiptsStored" if changed else "ReceiptsRepeated", 1, client.name)
    return changed


def poll(now: datetime | None = None) -> dict[str, int]:
    """Apply polled statuses to pending messages; settle messages past the receipt window."""
    now = now or datetime.now(UTC)
    report = {"pending": 0, "queried": 0, "settled": 0, "advanced": 0, "expired": 0}
    for name, cls in classes().items():
        if cls.receipts is Receipts.POLLED:
            _poll(provider(name), now, report)
        else:
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
            store.expire(item, pushed=False, now=now)
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


def _expire_pushed(name: str, now: datetime, report: dict[str, int]) -> None:
    store = st.message_store()
    for item in store.pending(name, submitted_before=_window_start(now)):
        store.expire(item, pushed=True, now=now)
        report["expired"] += 1
