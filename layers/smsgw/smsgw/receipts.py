"""230sms delivery receipts (pushed to the callback) and cmessages statuses (polled on a schedule)."""

import hmac
from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools.utilities import parameters

from . import store as st
from .config import settings
from .errors import GatewayError, ValidationError
from .numbers import parse_number
from .observability import count, logger
from .providers.registry import cmessages_client, sms230_credentials
from .providers.sms230 import parse_receipt


class CallbackRefused(GatewayError):
    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(message)


# -- 230sms receipts ---------------------------------------------------------------------------------


def accept_receipt(token: str, body: str | bytes) -> bool:
    """Store one receipt. True if it changed the message, False if already known; raises
    CallbackRefused otherwise. Answering OK is left to the caller, after the write."""
    expected = str(parameters.get_secret(settings().callback_token_secret_id, transform="json")["token"])
    if not hmac.compare_digest(token.encode(), expected.encode()):
        raise CallbackRefused(403, "unknown callback token")
    try:
        receipt = parse_receipt(body)
    except ValueError as error:
        raise CallbackRefused(400, f"not a 230sms receipt: {error}") from None
    if not hmac.compare_digest(receipt.apikey.encode(), sms230_credentials().apikey.encode()):
        raise CallbackRefused(403, "receipt for another account")
    try:
        e164 = parse_number("+" + receipt.mobile.lstrip("+")).e164
    except ValidationError:
        e164 = "+" + receipt.mobile.lstrip("+")  # kept, under an id no send produced, for reconciliation
    status = "delivered" if receipt.delivered else "failed"
    changed = st.message_store().apply_receipt(
        st.sms230_message_id(receipt.taskid, e164), status, receipt.status, receipt.times
    )
    count("ReceiptsStored" if changed else "ReceiptsRepeated", 1, "230sms")
    return changed


# -- the poller ----------------------------------------------------------------------------------------


def poll(now: datetime | None = None) -> dict[str, int]:
    """Apply cmessages statuses to pending messages; settle messages past the receipt window."""
    now = now or datetime.now(UTC)
    store = st.message_store()
    cutoff = st.now_iso(now - timedelta(hours=settings().receipt_window_hours))
    report = {"pending": 0, "queried": 0, "settled": 0, "advanced": 0, "expired": 0}
    live: dict[str, dict[str, Any]] = {}
    for item in store.pending("cmessages"):
        report["pending"] += 1
        if item["submitted_at"] < cutoff:
            store.expire(item, now)
            report["expired"] += 1
        elif item.get("provider_id"):
            live[str(item["provider_id"])] = item
    if live:
        statuses = cmessages_client().query(list(live))
        report["queried"] = len(live)
        for status in statuses:
            polled = live.get(status.id)
            if polled is None or status.status == polled.get("status"):
                continue
            if store.apply_poll(polled["pk"], status.status, status.provider_status, now):
                report["settled" if status.status in st.FINAL else "advanced"] += 1
    for item in store.pending(
        "230sms", submitted_before=now - timedelta(hours=settings().receipt_window_hours)
    ):
        store.expire(item, now)
        report["expired"] += 1
    count("StatusesSettled", report["settled"], "cmessages")
    count("MessagesExpired", report["expired"])
    logger.info("poll finished", extra=report)
    return report
