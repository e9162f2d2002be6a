"""Items of the earlier shape, one per message (`pk` = message id, `sk` "MSG" for the submission,
"DLR" for a receipt that raced it), written before requests were recorded as one item each. They
are still read by `GET /sms/messages/{id}` and drained by the poller until the receipt window has
passed over them; after the retention period (TTL) none are left and this module can go.
"""

from datetime import datetime
from typing import Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from . import store as st
from .messages import FINAL, OPEN, RANK, Status
from .numbers import number_key
from .providers import Provider

SUBMISSION, STATUS = "MSG", "DLR"
_NOT_FINAL = (Status.SUBMITTED, Status.SENDING)


def get(store: "st.MessageStore", message_id: str) -> dict[str, Any] | None:
    """An earlier message: its submission and status items merged, and a receipt stored since in the
    new shape (under its task id and number)."""
    items = store.table.query(KeyConditionExpression=Key("pk").eq(message_id), ConsistentRead=True)["Items"]
    if not items:
        return None
    by_sort = {item["sk"]: item for item in items}
    submission, status = by_sort.get(SUBMISSION, {}), by_sort.get(STATUS, {})
    if submission.get("to") and submission.get("provider_id"):
        ref = st.MessageRef(
            str(submission["provider"]), str(submission["provider_id"]), number_key(str(submission["to"]))
        )
        status = max(
            (status, *store.statuses([ref]).values()), key=lambda i: RANK.get(str(i.get("status", "")), -1)
        )
    best = max((submission, status), key=lambda i: RANK.get(str(i.get("status", "")), -1))
    return {
        "message_id": message_id,
        "provider": submission.get("provider") or status.get("provider"),
        "to": submission.get("to"),
        "status": best.get("status"),
        "provider_status": best.get("provider_status") or None,
        "provider_id": submission.get("provider_id"),
        "submitted_at": submission.get("submitted_at"),
        "updated_at": max(str(submission.get("updated_at", "")), str(status.get("updated_at", ""))) or None,
        "kind": submission.get("kind"),
        "tenant": submission.get("tenant"),
        "delivered_at": status.get("delivered_at") or submission.get("delivered_at"),
        "reconciled_with": submission.get("reconciled_from") or status.get("reconciled_to"),
        "recorded": bool(submission),
    }


def expire(store: "st.MessageStore", item: dict[str, Any], now: datetime) -> int:
    """An earlier item past the receipt window leaves the index; a submission without a final status
    becomes unknown. Returns 1 (one earlier item handled)."""
    key = {"pk": item["pk"], "sk": item["sk"]}
    if item["sk"] == SUBMISSION:
        _update(store, key, Status.UNKNOWN, "", now, allowed=_NOT_FINAL)
    store.table.update_item(Key=key, UpdateExpression="REMOVE pending_shard")
    return 1


def poll(
    store: "st.MessageStore",
    client: Provider,
    items: list[dict[str, Any]],
    now: datetime,
    window_start: datetime,
) -> int:
    """Earlier submissions of a polled provider: past the window, expired; else their polled status
    written on them. Returns how many earlier items were handled."""
    live: dict[str, dict[str, Any]] = {}
    for item in items:
        if str(item["submitted_at"]) < st.now_iso(window_start):
            expire(store, item, now)
        elif item["sk"] == SUBMISSION and item.get("provider_id"):
            live[str(item["provider_id"])] = item
    for update in client.query(list(live)) if live else []:
        polled = live.get(update.provider_id)
        if polled is not None and update.status != polled.get("status"):
            _update(store, {"pk": polled["pk"], "sk": SUBMISSION}, update.status, update.provider_status, now)
            if update.status in FINAL:
                store.table.update_item(
                    Key={"pk": polled["pk"], "sk": SUBMISSION}, UpdateExpression="REMOVE pending_shard"
                )
    return len(items)


def _update(
    store: "st.MessageStore",
    key: dict[str, Any],
    status: Status,
    provider_status: str,
    now: datetime,
    *,
    allowed: tuple[Status, ...] = OPEN,
) -> None:
    try:
        store.table.update_item(
            Key=key,
            UpdateExpression="SET #status = :status, provider_status = :ps, updated_at = :now",
            ConditionExpression="attribute_exists(pk) AND #status IN ("
            + ", ".join(f":a{i}" for i in range(len(allowed)))
            + ")",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={
                ":status": str(status),
                ":ps": provider_status,
                ":now": st.now_iso(now),
                **{f":a{i}": str(s) for i, s in enumerate(allowed)},
            },
        )
    except ClientError as error:
        if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
