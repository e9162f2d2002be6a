"""The messages table: one submission item and one status item per message.

Keys: `pk` = message id, `sk` = "MSG" (written by send, in batches) or "DLR" (written by receipts).
A pushed receipt can arrive before its batch is recorded; BatchWriteItem can only put whole items,
so if both lived in one item the later "submitted" put would erase the receipt. Kept apart, either
order ends in the same state, the receipt is one conditional UpdateItem with no read, and a lookup
is one Query that merges the two. Messages awaiting a final status carry `pending_shard`, which
feeds the sparse `Pending` index: the poller's reads follow the pending count, not history.
"""

import functools
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
from .numbers import mask

SUBMISSION, STATUS = "MSG", "DLR"
WRITE_CONCURRENCY = 8
PENDING_INDEX = "Pending"
_NOT_FINAL = (Status.SUBMITTED, Status.SENDING)


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


class MessageStore:
    def __init__(self, table: Any, *, retention_days: int, pending_shards: int) -> None:
        self.table = table
        self.retention = timedelta(days=retention_days)
        self.pending_shards = pending_shards

    # -- writes ---------------------------------------------------------------------------------

    def record(self, submissions: list[Submission], now: datetime | None = None) -> None:
        """One BatchWriteItem per 25 messages, up to WRITE_CONCURRENCY in flight: 10,000 messages
        are 400 calls, which one after another would eat most of API Gateway's 29 s."""
        now = now or datetime.now(UTC)
        # The table's client takes plain Python values (the resource serializes them).
        requests = [{"PutRequest": {"Item": self._submission_item(s, now)}} for s in submissions]
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
    ) -> bool:
        """One conditional write, no read. False when the message already had a final status."""
        return self._settle(
            message_id, STATUS, status, provider_status, now, extra={"provider_time": provider_time}
        )

    def apply_poll(
        self, message_id: str, status: Status, provider_status: str, now: datetime | None = None
    ) -> bool:
        """A polled status, written on the submission item; a final one leaves the index."""
        return self._settle(message_id, SUBMISSION, status, provider_status, now, leave_index=status in FINAL)

    def expire(self, item: dict[str, Any], *, pushed: bool, now: datetime | None = None) -> None:
        """Past the receipt window: no final status came. Pushed receipts live on their own item, so
        `unknown` goes there only if none came; then the message leaves the index either way."""
        message_id = item["pk"]
        if pushed:
            self._settle(message_id, STATUS, Status.UNKNOWN, "", now, allowed=_NOT_FINAL)
            self._leave_index(message_id)
        else:
            self._settle(
                message_id, SUBMISSION, Status.UNKNOWN, "", now, leave_index=True, allowed=_NOT_FINAL
            )

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
            "recorded": bool(submission),  # False: a receipt for a send we have no record of
        }

    def lookup(self, message_id: str) -> dict[str, Any]:
        """`get`, or NotFound."""
        message = self.get(message_id)
        if message is None:
            raise NotFound(f"no message {message_id}")
        return message

    def pending(self, provider: str, submitted_before: datetime | None = None) -> Iterator[dict[str, Any]]:
        """Messages of `provider` still awaiting a final status, from the sparse index."""
        for shard in range(self.pending_shards):
            condition: Any = Key("pending_shard").eq(f"{provider}#{shard}")
            if submitted_before is not None:
                condition = condition & Key("submitted_at").lt(now_iso(submitted_before))
            kwargs: dict[str, Any] = {"IndexName": PENDING_INDEX, "KeyConditionExpression": condition}
            while True:
                page = self.table.query(**kwargs)
                yield from page["Items"]
                if "LastEvaluatedKey" not in page:
                    break
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

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
            "submitted_at": now_iso(now),
            "updated_at": now_iso(now),
            "expires_at": int((now + self.retention).timestamp()),
        }
        if submission.provider_id:
            item["provider_id"] = submission.provider_id
        if submission.status not in FINAL:
            shard = zlib.crc32(submission.message_id.encode()) % self.pending_shards
            item["pending_shard"] = f"{submission.provider}#{shard}"
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
    ) -> bool:
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
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def _leave_index(self, message_id: str) -> None:
        self.table.update_item(
            Key={"pk": message_id, "sk": SUBMISSION},
            UpdateExpression="REMOVE pending_shard",
            ConditionExpression="attribute_exists(pk)",
        )


@functools.cache
def message_store() -> MessageStore:
    config = settings()
    table = boto3.resource("dynamodb").Table(config.messages_table)
    return MessageStore(table, retention_days=config.retention_days, pending_shards=config.pending_shards)
