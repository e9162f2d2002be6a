"""Receipts pushed to the callback: one conditional write on the message's status item, no read."""

import functools
import hmac
import threading
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from smsgw.domain.numbers import number_keys, parse_number
from smsgw.domain.statuses import Status
from smsgw.platform.config import settings
from smsgw.platform.observability import count, observe
from smsgw.providers.base import Provider, ReceiptRefused, Receipts, StatusUpdate
from smsgw.providers.registry import classes, receipt_reader
from smsgw.storage.items import REQUEST, MessageRef, RequestItem, request_pk
from smsgw.storage.messages import message_store

__all__ = ["ReceiptRefused", "accept_receipt"]


def accept_receipt(provider_name: str, token: str, body: str | bytes) -> bool:
    """Store one pushed receipt. True if it changed the message, False if already known; raises
    ReceiptRefused otherwise. Answering OK is left to the caller, after the write."""
    from aws_lambda_powertools.utilities import parameters  # noqa: PLC0415 - cold start: only a receipt reads it

    secret = parameters.get_secret(settings().callback_token_secret_id, transform="json")
    expected = str(secret["token"])
    if not hmac.compare_digest(token.encode(), expected.encode()):
        raise ReceiptRefused(403, "unknown callback token")
    cls = classes().get(provider_name)
    if cls is None or cls.receipts is not Receipts.PUSHED:
        raise ReceiptRefused(404, "no provider pushes receipts here")
    credentials = (secret.get("receipts") or {}).get(cls.name)
    if not isinstance(credentials, dict):  # a deploy step missed: 5xx, so the provider pushes it again
        count("ReceiptsNotStored", 1, cls.name)
        raise ReceiptRefused(503, f"the callback secret holds no receipt credentials for {cls.name}")
    client = receipt_reader(cls.name, credentials)
    update = client.parse_receipt(body)
    number, request = _match(client, update)
    messages = message_store()
    if number is None:
        messages.keep_unmatched(client.name, update)
        count("ReceiptsUnmatched", 1, client.name)
        return False
    extra = {"provider_time": update.provider_time or ""}
    if update.at and update.status is Status.DELIVERED:
        extra["delivered_at"] = update.at
    own, *older = (MessageRef(client.name, update.provider_id, nkey) for nkey in number_keys(number))
    now = datetime.now(UTC)
    try:
        changed = messages.set_status(
            own, update.status, update.provider_status, now, extra=extra, older=tuple(older)
        )
    except Exception:
        count("ReceiptsNotStored", 1, client.name)  # answered 5xx: the provider pushes it again
        raise
    count("ReceiptsStored" if changed else "ReceiptsRepeated", 1, client.name)
    if changed:
        times = submission_times()
        if request is not None:
            times.keep(client.name, update.provider_id, request.submitted_at)
        submitted = times.of(client.name, update.provider_id) if update.status is Status.DELIVERED else None
        settled(client.name, update.status, [submitted], now)
    return changed


class SubmissionTimes:
    """When provider requests were submitted, for delivery latency without a read per receipt.

    A container keeps the times of the last KEPT requests it has seen. For a request it has not, it
    reads the time (that attribute only, eventually consistent: half a read unit) for one receipt in
    `read_every` and keeps it: a bulk request's receipts share one read, and a receipt costs at most
    1/read_every reads. Receipts of requests not read yet have no latency, which thins the sample
    without skewing it (which request is read does not depend on its latency)."""

    KEPT = 4096

    def __init__(self, table: Any, read_every: int) -> None:
        self.table = table
        self.read_every = read_every
        self._times: OrderedDict[tuple[str, str], str | None] = OrderedDict()
        self._misses = 0
        self._lock = threading.Lock()

    def of(self, provider: str, key: str) -> str | None:
        with self._lock:
            if (provider, key) in self._times:
                self._times.move_to_end((provider, key))
                return self._times[(provider, key)]
            self._misses += 1
            if self._misses % self.read_every:
                return None
        item = self.table.get_item(
            Key={"pk": request_pk(provider, key), "sk": REQUEST},
            ProjectionExpression="submitted_at",
        ).get("Item")
        submitted = str(item["submitted_at"]) if item and "submitted_at" in item else None
        self.keep(provider, key, submitted)  # kept even when unknown: not read again
        return submitted

    def keep(self, provider: str, key: str, submitted: object) -> None:
        with self._lock:
            self._times[(provider, key)] = str(submitted) if submitted else None
            self._times.move_to_end((provider, key))
            while len(self._times) > self.KEPT:
                self._times.popitem(last=False)


@functools.cache
def submission_times() -> SubmissionTimes:
    return SubmissionTimes(message_store().table, settings().receipt_latency_read_every)


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


def _match(client: Provider, update: StatusUpdate) -> tuple[str | None, RequestItem | None]:
    """The number a receipt is about (its message id follows). A whole number needs no read (a
    receipt for a task we never recorded is kept under it, `recorded: false`, for reconciliation).
    A masked or partial number is matched against the request's numbers (one read): the only number
    of the request, or the only one that fits. With the number, the request when it was read."""
    if update.number:
        return update.number, None
    request = message_store().request(client.name, update.provider_id)
    candidates = request.numbers if request else []
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
