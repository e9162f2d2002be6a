"""Receipts for messages that were not recorded: merged once their batch is, or reconciled with a
message whose send outcome was unknown.

A receipt can reach us before its send has recorded the batch (a race), or for a task whose id we
never learned (the provider sent, then its answer was lost: the message is `unknown` under an id of
our own). Such a receipt lands on a status item of its own, flagged in the `Pending` index under
"<provider>#orphan". The poller then either merges it into the message recorded since, or, once the
send has certainly finished, gives its status to the latest `unknown` message to the same number
within the receipt window, and links the two (`reconciled_from` / `reconciled_to`).
"""

from datetime import datetime, timedelta

from . import store as st
from .messages import Status
from .observability import count

GRACE = timedelta(minutes=2)  # longer than any send takes to record its batch


def reconcile(provider: str, now: datetime, window_start: datetime, report: dict[str, int]) -> None:
    store = st.message_store()
    for found in store.indexed(f"{provider}#{st.ORPHAN}"):
        message_id = str(found["pk"])
        receipt = store.item(message_id, st.STATUS)
        if receipt is None or "pending_shard" not in receipt:
            continue
        status, provider_status = Status(str(receipt["status"])), str(receipt.get("provider_status", ""))
        if store.item(message_id, st.SUBMISSION) is not None:  # it only raced its batch
            store.settle(message_id, status, provider_status, now)
            store.unflag(message_id, st.STATUS)
            report["merged"] += 1
            continue
        received_at = datetime.fromisoformat(str(found["submitted_at"]).replace("Z", "+00:00"))
        if now - received_at < GRACE:
            continue
        candidates = list(
            store.indexed(
                st.unknown_key(provider, str(receipt.get("number_key", ""))),
                after=window_start,
                before=received_at,
            )
        )
        if candidates:
            unknown_id = str(max(candidates, key=lambda c: str(c["submitted_at"]))["pk"])
            extra = {"provider_id": str(receipt.get("provider_id", "")), "reconciled_from": message_id}
            store.settle(unknown_id, status, provider_status, now, **extra)
            store.unflag(message_id, st.STATUS, reconciled_to=unknown_id)
            report["reconciled"] += 1
            count("ReceiptsReconciled", 1, provider)
        elif received_at < window_start:
            store.unflag(message_id, st.STATUS)  # kept for reconciliation by hand; no longer looked at
