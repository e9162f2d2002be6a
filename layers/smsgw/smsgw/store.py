"""The messages table: one submission item and one status item per message.

Keys: `pk` = message id, `sk` = "MSG" (written by send, in batches) or "DLR" (written by receipts).
A pushed receipt can arrive before its batch is recorded; BatchWriteItem can only put whole items,
so if both lived in one item the later "submitted" put would erase the receipt. Kept apart, either
order ends in the same state, the receipt is one conditional UpdateItem with no read, and a lookup
is one Query that merges the two. Messages awaiting a final status carry `pending_shard`, which
feeds the sparse `Pending` index: the poller's reads follow the pending count, not history.
"""

import functools
import re
import time
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from .config import settings
from .errors import NotFound
from .messages import FINAL, OPEN, RANK, Kind, Status
from .numbers import mask, number_hash

SUBMISSION, STATUS = "MSG", "DLR"
WRITE_CONCURRENCY = 8
PENDING_INDEX = "Pending"
_NOT_FINAL = (Status.SUBMITTED, Status.SENDING)
_MESSAGE_ID = re.compile(r"[A-Za-z0-9-]{1,128}")


def now_iso(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Submission:
    message_id: str
    provider: str
    to: str  # E.164
    status: Status  # submitted, or unknown when the provider may or may not have taken it
    provider_id: str | None
    request_id: str
    kind: Kind
    segments: int
    tenant: str | None = None  # whose message it is (per-key tenancy)


class _Conflict(Exception):
    def __init__(self, item: dict[str, Any] | None) -> None:
        self.item = item


class MessageStore:
    def __init__(self, table: Any, *, retention_days: int, pending_shards: int) -> None:
        self.table = table
        self.retention = timedelta(days=retention_days)
        self.pending_shards = pending_shards

    # -- writes ---------------------------------------------------------------------------------

    def record(
        self,
        submissions: list[Submission],
        now: datetime | None = None,
        also: list[dict[str, Any]] | None = None,
    ) -> None:
        """One BatchWriteItem per 25 messages, up to WRITE_CONCURRENCY in flight: 10,000 messages
        are 400 calls, which one after another would eat most of API Gateway's 29 s. `also`: other
        items written in the same batches (the provider requests')."""
        now = now or datetime.now(UTC)
        # The table's client takes plain Python values (the resource serializes them).
        items = [self._submission_item(s, now) for s in submissions] + (also or [])
        requests = [{"PutRequest": {"Item": item}} for item in items]
        batches = [requests[i : i + 25] for i in range(0, len(requests), 25)]
        if len(batches) <= 1:
            for batch in batches:
                self._write_batch(batch)
            return
        with ThreadPoolExecutor(max_workers=min(WRITE_CONCURRENCY, len(batches))) as pool:
            list(pool.map(self._write_batch, batches))

    def _write_batch(self, batch: list[dict[str, Any]]) -> None:
        """BatchWriteItem, resending what DynamoDB left unprocessed (throttling) with back-off."""
        pending: dict[str, Any] = {self.table.name: batch}
        for attempt in range(8):
            unprocessed = self.table.meta.client.batch_write_item(RequestItems=pending).get(
                "UnprocessedItems"
            )
            if not unprocessed:
                return
            pending = unprocessed
            time.sleep(min(1.0, 0.05 * 2**attempt))
        raise RuntimeError(f"DynamoDB left {len(pending[self.table.name])} items unprocessed")

    def apply_receipt(
        self,
        message_id: str,
        status: Status,
        provider_status: str,
        provider_time: str,
        now: datetime | None = None,
        *,
        delivered_at: str | None = None,
        orphan: dict[str, str] | None = None,
    ) -> bool:
        """One conditional write on the message's item, which also leaves the pending index; no read.
        False when the message already had a final status. A receipt for a message not recorded (yet:
        it raced its batch; or ever: the send's answer was lost) lands on a status item of its own,
        flagged as an orphan for the poller to merge or reconcile."""
        extra = {"provider_time": provider_time}
        if delivered_at and status is Status.DELIVERED:
            extra["delivered_at"] = delivered_at
        try:
            return self._settle(
                message_id,
                SUBMISSION,
                status,
                provider_status,
                now,
                leave_index=True,
                extra=extra,
                report_conflict=True,
            )
        except _Conflict as conflict:
            if conflict.item is not None:
                return False  # recorded and already final: a repeat
        return self._settle(
            message_id, STATUS, status, provider_status, now, extra={**extra, **(orphan or {})}
        )

    def apply_poll(
        self, message_id: str, status: Status, provider_status: str, now: datetime | None = None
    ) -> bool:
        """A polled status, written on the submission item; a final one leaves the index."""
        return self._settle(message_id, SUBMISSION, status, provider_status, now, leave_index=status in FINAL)

    def settle(
        self, message_id: str, status: Status, provider_status: str, now: datetime | None = None, **extra: str
    ) -> bool:
        """A final status found later (a merged or reconciled receipt) on the message's own item."""
        return self._settle(
            message_id, SUBMISSION, status, provider_status, now, leave_index=True, extra=extra
        )

    def expire(self, item: dict[str, Any], now: datetime | None = None) -> None:
        """Past the receipt window: no final status came; the message leaves the index as unknown.
        (A receipt that raced its batch onto a status item of its own still ranks above.)"""
        self._settle(item["pk"], SUBMISSION, Status.UNKNOWN, "", now, leave_index=True, allowed=_NOT_FINAL)

    # -- reads ----------------------------------------------------------------------------------

    def get(self, message_id: str) -> dict[str, Any] | None:
        """The message as the API shows it: one Query, submission and status merged."""
        items = self.table.query(KeyConditionExpression=Key("pk").eq(message_id), ConsistentRead=True)[
            "Items"
        ]
        if not items:
            return None
        by_sort = {item["sk"]: item for item in items}
        submission, status = by_sort.get(SUBMISSION, {}), by_sort.get(STATUS, {})
        best = max((submission, status), key=lambda i: RANK.get(str(i.get("status", "")), -1))
        return {
            "message_id": message_id,
            "provider": submission.get("provider") or status.get("provider"),
            "to": submission.get("to"),
            "status": best.get("status"),
            "provider_status": best.get("provider_status") or None,
            "submitted_at": submission.get("submitted_at"),
            "updated_at": max(str(submission.get("updated_at", "")), str(status.get("updated_at", "")))
            or None,
            "kind": submission.get("kind"),
            "tenant": submission.get("tenant"),
            "delivered_at": status.get("delivered_at") or submission.get("delivered_at"),
            # A receipt for a message with an unknown outcome, matched later by number: the link.
            "reconciled_with": submission.get("reconciled_from") or status.get("reconciled_to"),
            "recorded": bool(submission),  # False: a receipt for a send we have no record of
        }

    def lookup(self, message_id: str, tenant: str | None = None) -> dict[str, Any]:
        """`get` for `tenant`, or NotFound: also for another tenant's message, and for what cannot be a
        message id (no key that long is read). Items written before tenancy have no tenant."""
        message = self.get(message_id) if _MESSAGE_ID.fullmatch(message_id) else None
        if message is not None and tenant and message.get("tenant") not in (None, tenant):
            message = None
        if message is None:
            raise NotFound(f"no message {message_id[:128]}")
        message.pop("tenant", None)
        return message

    def pending(self, provider: str, submitted_before: datetime | None = None) -> Iterator[dict[str, Any]]:
        """Messages of `provider` still awaiting a final status, from the sparse index."""
        for shard in range(self.pending_shards):
            yield from self.indexed(f"{provider}#{shard}", before=submitted_before)

    def indexed(
        self, key: str, *, after: datetime | None = None, before: datetime | None = None
    ) -> Iterator[dict[str, Any]]:
        """Items under `key` in the sparse `Pending` index (the attributes it projects)."""
        condition: Any = Key("pending_shard").eq(key)
        if after is not None:
            condition = condition & Key("submitted_at").gte(now_iso(after))
        if before is not None:
            condition = condition & Key("submitted_at").lt(now_iso(before))
        kwargs: dict[str, Any] = {"IndexName": PENDING_INDEX, "KeyConditionExpression": condition}
        while True:
            page = self.table.query(**kwargs)
            yield from page["Items"]
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def item(self, message_id: str, sort_key: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = self.table.get_item(
            Key={"pk": message_id, "sk": sort_key}, ConsistentRead=True
        ).get("Item")
        return found

    def unflag(self, message_id: str, sort_key: str, **attributes: str) -> None:
        """Take an item out of the index, noting `attributes` (e.g. what it was reconciled with)."""
        sets = ", ".join(f"{name} = :{name}" for name in attributes)
        self.table.update_item(
            Key={"pk": message_id, "sk": sort_key},
            UpdateExpression=("SET " + sets + " " if sets else "") + "REMOVE pending_shard",
            **(
                {"ExpressionAttributeValues": {f":{k}": v for k, v in attributes.items()}}
                if attributes
                else {}
            ),
        )

    # -- internals ------------------------------------------------------------------------------

    def _submission_item(self, submission: Submission, now: datetime) -> dict[str, Any]:
        item: dict[str, Any] = {
            "pk": submission.message_id,
            "sk": SUBMISSION,
            "provider": submission.provider,
            "to": submission.to,
            "to_masked": mask(submission.to),
            "status": str(submission.status),
            "kind": str(submission.kind),
            "segments": submission.segments,
            "request_id": submission.request_id,
            **({"tenant": submission.tenant} if submission.tenant else {}),
            "submitted_at": now_iso(now),
            "updated_at": now_iso(now),
            "expires_at": int((now + self.retention).timestamp()),
        }
        if submission.provider_id:
            item["provider_id"] = submission.provider_id
        if submission.status not in FINAL:
            shard = zlib.crc32(submission.message_id.encode()) % self.pending_shards
            item["pending_shard"] = f"{submission.provider}#{shard}"
        elif submission.status is Status.UNKNOWN:  # a receipt may still turn up for it: by number
            item["pending_shard"] = unknown_key(submission.provider, number_hash(submission.to))
        return item

    def _settle(
        self,
        message_id: str,
        sort_key: str,
        status: Status,
        provider_status: str,
        now: datetime | None,
        *,
        leave_index: bool = False,
        allowed: tuple[Status, ...] = OPEN,
        extra: dict[str, str] | None = None,
        report_conflict: bool = False,
    ) -> bool:
        """One conditional UpdateItem: False when the status may not change (already final); with
        `report_conflict`, raises _Conflict carrying the item as it was (None: no such item)."""
        now = now or datetime.now(UTC)
        values: dict[str, Any] = {
            ":status": str(status),
            ":provider_status": provider_status,
            ":now": now_iso(now),
            ":expires": int((now + self.retention).timestamp()),
            **{f":{i}": str(value) for i, value in enumerate(allowed)},
        }
        sets = ["#status = :status", "provider_status = :provider_status", "updated_at = :now"]
        sets.append("expires_at = if_not_exists(expires_at, :expires)")
        for name, value in (extra or {}).items():
            sets.append(f"{name} = :{name}")
            values[f":{name}"] = value
        allowed_list = ", ".join(f":{i}" for i in range(len(allowed)))
        condition = f"attribute_not_exists(#status) OR #status IN ({allowed_list})"
        if sort_key == SUBMISSION:  # never create a submission item from a status alone
            condition = f"attribute_exists(pk) AND ({condition})"
        update = "SET " + ", ".join(sets) + (" REMOVE pending_shard" if leave_index else "")
        try:
            self.table.update_item(
                Key={"pk": message_id, "sk": sort_key},
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=values,
                **({"ReturnValuesOnConditionCheckFailure": "ALL_OLD"} if report_conflict else {}),
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            if report_conflict:
                item = error.response.get("Item")
                raise _Conflict(item if isinstance(item, dict) else None) from None
            return False
        return True


def unknown_key(provider: str, number: str) -> str:
    """Index key of messages with an unknown outcome to one number (its hash), for reconciliation."""
    return f"{provider}#unknown#{number}"


ORPHAN = "orphan"  # index key suffix of receipts for messages not recorded


@functools.cache
def message_store() -> MessageStore:
    config = settings()
    table = boto3.resource("dynamodb").Table(config.messages_table)
    return MessageStore(table, retention_days=config.retention_days, pending_shards=config.pending_shards)
