"""Receipts pushed to the callback: one conditional write on the message's status item, no read."""

import hmac
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from . import store as st
from .config import settings
from .messages import Status
from .numbers import number_key, parse_number
from .observability import count, observe
from .providers import Provider, Receipts
from .providers.base import ReceiptRefused, StatusUpdate
from .providers.registry import classes, provider

__all__ = ["ReceiptRefused", "accept_receipt"]


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
    number, request = _match(client, update)
    store = st.message_store()
    if number is None:
        store.keep_unmatched(client.name, update)
        count("ReceiptsUnmatched", 1, client.name)
        return False
    extra = {"provider_time": update.provider_time or ""}
    if update.at and update.status is Status.DELIVERED:
        extra["delivered_at"] = update.at
    ref = st.MessageRef(client.name, update.provider_id, number_key(number))
    now = datetime.now(UTC)
    try:
        changed = store.set_status(ref, update.status, update.provider_status, now, extra=extra)
    except Exception:
        count("ReceiptsNotStored", 1, client.name)  # answered 5xx: the provider pushes it again
        raise
    count("ReceiptsStored" if changed else "ReceiptsRepeated", 1, client.name)
    if changed:
        # A whole number is stored without reading its request: no submission time, no latency.
        settled(client.name, update.status, [str((request or {}).get("submitted_at") or "") or None], now)
    return changed


def settled(provider_name: str, status: Status, submitted: list[str | None], now: datetime) -> None:
    """Messages that just turned final (a receipt, a poll), given when each was submitted where
    known: `MessagesDelivered` or `MessagesUndelivered`, and for the delivered with a known
    submission the seconds since it (`DeliveryLatency`; when the gateway learnt of it, so a polled
    provider's is rounded up to its next poll)."""
    if status is Status.DELIVERED:
        count("MessagesDelivered", len(submitted), provider_name)
        seconds = [max(0.0, (now - _parse(at)).total_seconds()) for at in submitted if at]
        observe("DeliveryLatency", seconds, MetricUnit.Seconds, provider_name)
    elif status is Status.FAILED:
        count("MessagesUndelivered", len(submitted), provider_name)


def _parse(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def _match(client: Provider, update: StatusUpdate) -> tuple[str | None, dict[str, Any] | None]:
    """The number a receipt is about (its message id follows). A whole number needs no read (a
    receipt for a task we never recorded is kept under it, `recorded: false`, for reconciliation).
    A masked or partial number is matched against the request's numbers (one read): the only number
    of the request, or the only one that fits. With the number, the request when it was read."""
    if update.number:
        return update.number, None
    request = st.message_store().request(client.name, update.provider_id)
    candidates = st.numbers_of(request or {})
    fitting = [n for n in candidates if _fits(update.number_hint, n)]
    chosen = candidates if len(candidates) == 1 else fitting
    return (chosen[0] if len(chosen) == 1 else None), request


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
