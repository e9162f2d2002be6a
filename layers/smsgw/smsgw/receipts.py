"""Receipts pushed to the callback: one conditional write on the message's status item, no read."""

import hmac

from . import store as st
from .config import settings
from .messages import Status
from .numbers import number_key, parse_number
from .observability import count
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
    number = _match(client, update)
    store = st.message_store()
    if number is None:
        store.keep_unmatched(client.name, update)
        count("ReceiptsUnmatched", 1, client.name)
        return False
    extra = {"provider_time": update.provider_time or ""}
    if update.at and update.status is Status.DELIVERED:
        extra["delivered_at"] = update.at
    ref = st.MessageRef(client.name, update.provider_id, number_key(number))
    changed = store.set_status(ref, update.status, update.provider_status, extra=extra)
    count("ReceiptsStored" if changed else "ReceiptsRepeated", 1, client.name)
    return changed


def _match(client: Provider, update: StatusUpdate) -> str | None:
    """The number a receipt is about (its message id follows). A whole number needs no read (a
    receipt for a task we never recorded is kept under it, `recorded: false`, for reconciliation).
    A masked or partial number is matched against the request's numbers (one read): the only number
    of the request, or the only one that fits."""
    if update.number:
        return update.number
    request = st.message_store().request(client.name, update.provider_id)
    candidates = st.numbers_of(request or {})
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
