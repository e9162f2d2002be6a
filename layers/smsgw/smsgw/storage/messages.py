"""The messages table: one item per provider request, one status item per message that had news.

- A **request item** (`pk` = "req#<provider>#<key>", `sk` = "REQ") is written by the send, one per
  provider request (a 230sms task, a cmessages chunk, a chunk whose outcome is unknown): its
  numbers, what the provider said of them (ids, how many it took and billed), the caller's request
  id, kind and tenant. 10,000 recipients via 230sms are 10 items, not 10,000.
- A **status item** (`pk` = "num#<provider>#<number key>", `sk` = <request key>) exists only when
  something happened to one message: a receipt, a polled change, a reconciliation. A receipt writes
  it with one conditional UpdateItem and no read, whether or not its request is recorded yet, so
  either order ends in the same state. Keyed by number, a number's receipts can be found again to
  reconcile a send whose outcome was unknown.
- A message id is "<provider prefix>-<request key>-<number key>": both items' keys follow from it,
  so a lookup is one BatchGetItem of two keys. Without a status item a message has its request's
  status; once its request is closed (past the receipt window) it is `unknown`.
- Requests awaiting news carry `pending_shard`, which feeds the sparse `Pending` index: the poller's
  reads follow open provider requests, not history, and the end of the window is one write per request.
"""

import functools
import json
import time
import uuid
import zlib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from smsgw.domain.statuses import OPEN, Kind, Status
from smsgw.platform.config import settings
from smsgw.storage.items import (
    PARTIAL_KEY,
    PENDING_INDEX,
    REQUEST,
    UNKNOWN_KEY,
    IndexEntry,
    MessageRef,
    RequestItem,
    StatusItem,
    now_iso,
    request_pk,
    status_pk,
)

WRITE_CONCURRENCY = 8


@dataclass(frozen=True, slots=True)
class ProviderRequest:
    """What one provider request carried and what the provider said of it."""

    provider: str
    key: str  # the provider's id for the request, or for its first number; ours if it gave none
    numbers: list[str]  # E.164, in the order sent
    status: Status  # submitted, or unknown when the provider may or may not have taken them
    request_id: str
    kind: Kind
    segments: int
    tenant: str | None = None
    provider_ids: list[str] | None = None  # one per number, where the provider gives each its own
    task_id: str | None = None  # the provider's id for the whole request
    taken: int | None = None  # fewer than len(numbers): the provider dropped some
    billed: int | None = None
    status_callback: str | None = None  # where this request's message events also go (webhooks)

    @property
    def dropped(self) -> int:
        return 0 if self.taken is None else max(0, len(self.numbers) - self.taken)


class MessageStore:
    def __init__(self, table: Any, *, retention_days: int, pending_shards: int) -> None:
        self.table = table
        self.retention = timedelta(days=retention_days)
        self.pending_shards = pending_shards

    # -- the send ---------------------------------------------------------------------------------

    def record(self, requests: list[ProviderRequest], now: datetime | None = None) -> None:
        """One item per provider request, 25 to a BatchWriteItem, up to WRITE_CONCURRENCY in flight."""
        now = now or datetime.now(UTC)
        self.put_all([self.request_item(r, now) for r in requests])

    def put_all(self, items: list[dict[str, Any]]) -> None:
        writes = [{"PutRequest": {"Item": item}} for item in items]
        batches = [writes[i : i + 25] for i in range(0, len(writes), 25)]
        if len(batches) <= 1:
            for batch in batches:
                self._write_batch(batch)
            return
        with ThreadPoolExecutor(max_workers=min(WRITE_CONCURRENCY, len(batches))) as pool:
            list(pool.map(self._write_batch, batches))

    def request_item(self, request: ProviderRequest, now: datetime) -> dict[str, Any]:
        item: dict[str, Any] = {
            "pk": request_pk(request.provider, request.key),
            "sk": REQUEST,
            "provider": request.provider,
            "status": str(request.status),
            "numbers": " ".join(request.numbers),
            "kind": str(request.kind),
            "segments": request.segments,
            "request_id": request.request_id,
            "submitted_at": now_iso(now),
            "expires_at": int((now + self.retention).timestamp()),
        }
        optional = {
            "tenant": request.tenant,
            "provider_ids": json.dumps(request.provider_ids) if request.provider_ids else None,
            "provider_id": request.task_id,
            "taken": request.taken,
            "billed": request.billed,
            "status_callback": request.status_callback,
        }
        item |= {name: value for name, value in optional.items() if value is not None}
        if request.status is Status.UNKNOWN:  # a receipt may still turn up for it: reconciled by number
            item["pending_shard"] = f"{request.provider}#{UNKNOWN_KEY}"
        elif request.dropped:  # settled once the receipts of the numbers it took are in
            item["pending_shard"] = f"{request.provider}#{PARTIAL_KEY}"
        else:
            item["pending_shard"] = (
                f"{request.provider}#{zlib.crc32(request.key.encode()) % self.pending_shards}"
            )
        return item

    # -- news about one message ---------------------------------------------------------------------

    def set_status(
        self,
        ref: MessageRef,
        status: Status,
        provider_status: str,
        now: datetime | None = None,
        *,
        allowed: tuple[Status, ...] = OPEN,
        extra: dict[str, str] | None = None,
        older: tuple[MessageRef, ...] = (),
    ) -> bool:
        """One conditional UpdateItem on the message's status item, no read. False when the message
        already has a status that may not change (delivered and failed are never replaced).

        `older`: keys the same message's item may be under instead, from before the number key
        (LEGACY_NUMBER_KEYS). Such an item is updated only where it exists (one conditional write
        each, creating nothing); else `ref`'s item is written."""
        for old in older:
            request = self._status_update(old, status, provider_status, now=now, allowed=allowed, extra=extra)
            request["ConditionExpression"] = f"attribute_exists(pk) AND ({request['ConditionExpression']})"
            try:
                self.table.update_item(**request, ReturnValuesOnConditionCheckFailure="ALL_OLD")
            except ClientError as error:
                if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise
                if error.response.get("Item"):
                    return False  # there, with a status that may not change
                continue  # not under this key
            return True
        update = self._status_update(ref, status, provider_status, now=now, allowed=allowed, extra=extra)
        return conditionally(self.table.update_item, **update)

    def _status_update(
        self,
        ref: MessageRef,
        status: Status,
        provider_status: str,
        *,
        now: datetime | None,
        allowed: tuple[Status, ...],
        extra: dict[str, str] | None,
    ) -> dict[str, Any]:
        now = now or datetime.now(UTC)
        values: dict[str, Any] = {
            ":status": str(status),
            ":provider_status": provider_status,
            ":now": now_iso(now),
            ":expires": int((now + self.retention).timestamp()),
            ":zero": 0,
            ":one": 1,
            **{f":a{i}": str(value) for i, value in enumerate(allowed)},
        }
        sets = [
            "#status = :status",
            "seq = if_not_exists(seq, :zero) + :one",  # the change's number: webhook events' order
            "provider_status = :provider_status",
            "updated_at = :now",
            "first_at = if_not_exists(first_at, :now)",
            "expires_at = if_not_exists(expires_at, :expires)",
        ]
        for name, value in (extra or {}).items():
            sets.append(f"{name} = :{name}")
            values[f":{name}"] = value
        allowed_list = ", ".join(f":a{i}" for i in range(len(allowed)))
        return {
            "Key": {"pk": status_pk(ref.provider, ref.nkey), "sk": ref.key},
            "UpdateExpression": "SET " + ", ".join(sets),
            "ConditionExpression": f"attribute_not_exists(#status) OR #status IN ({allowed_list})",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": values,
        }

    def link(self, ref: MessageRef, **attributes: str) -> bool:
        """Note a link on an existing status item, once: False if it already has one."""
        (name,) = attributes
        return conditionally(
            self.table.update_item,
            Key={"pk": status_pk(ref.provider, ref.nkey), "sk": ref.key},
            UpdateExpression=f"SET {name} = :value",
            ConditionExpression=f"attribute_exists(pk) AND attribute_not_exists({name})",
            ExpressionAttributeValues={":value": attributes[name]},
        )

    def statuses(self, refs: list[MessageRef]) -> dict[MessageRef, StatusItem]:
        """The status items of these messages that exist (BatchGetItem, 100 keys a call)."""
        found = self.get_all([{"pk": status_pk(r.provider, r.nkey), "sk": r.key} for r in refs])
        return {news.ref: news for news in map(StatusItem.from_item, found)}

    def number_history(self, provider: str, nkey: str) -> list[StatusItem]:
        """Every status item of one number with `provider` (to reconcile unknown sends)."""
        return [StatusItem.from_item(i) for i in self._query_all(Key("pk").eq(status_pk(provider, nkey)))]

    def message_items(
        self, refs: list[MessageRef]
    ) -> dict[MessageRef, tuple[RequestItem | None, StatusItem | None]]:
        """Each message's request item and status item (either may be missing), one BatchGetItem per
        50 messages."""
        keys = {(request_pk(r.provider, r.key), REQUEST) for r in refs} | {
            (status_pk(r.provider, r.nkey), r.key) for r in refs
        }
        found = {
            (str(i["pk"]), str(i["sk"])): i for i in self.get_all([{"pk": pk, "sk": sk} for pk, sk in keys])
        }
        answer = {}
        for ref in refs:
            request = found.get((request_pk(ref.provider, ref.key), REQUEST))
            news = found.get((status_pk(ref.provider, ref.nkey), ref.key))
            answer[ref] = (
                RequestItem.from_item(request) if request else None,
                StatusItem.from_item(news) if news else None,
            )
        return answer

    # -- provider requests --------------------------------------------------------------------------

    def requests(self, pks: Iterable[str]) -> list[RequestItem]:
        """Whole request items (BatchGetItem, 100 a call)."""
        return [RequestItem.from_item(i) for i in self.get_all([{"pk": pk, "sk": REQUEST} for pk in pks])]

    def request(self, provider: str, key: str) -> RequestItem | None:
        found = self.table.get_item(Key={"pk": request_pk(provider, key), "sk": REQUEST}, ConsistentRead=True)
        return RequestItem.from_item(found["Item"]) if "Item" in found else None

    def close(self, pk: str, now: datetime | None = None, **attributes: Any) -> None:
        """Take a request out of the index: its messages without news are settled by `attributes`
        (`closed_as`), or read as unknown. One write per provider request."""
        values = {f":{name}": value for name, value in attributes.items()} | {":now": now_iso(now)}
        sets = ", ".join([f"{name} = :{name}" for name in attributes] + ["closed_at = :now"])
        self.table.update_item(
            Key={"pk": pk, "sk": REQUEST},
            UpdateExpression=f"SET {sets} REMOVE pending_shard",
            ExpressionAttributeValues=values,
        )

    def update_request(self, pk: str, *, done: bool, **attributes: Any) -> None:
        """Note `attributes` on a request (what the poller saw); `done`: it leaves the index."""
        sets = ", ".join(f"{name} = :{name}" for name in attributes)
        self.table.update_item(
            Key={"pk": pk, "sk": REQUEST},
            UpdateExpression=f"SET {sets}" + (" REMOVE pending_shard" if done else ""),
            ExpressionAttributeValues={f":{name}": value for name, value in attributes.items()},
        )

    def indexed(
        self, key: str, *, after: datetime | None = None, before: datetime | None = None
    ) -> Iterator[IndexEntry]:
        """Requests under `key` in the sparse `Pending` index."""
        condition: Any = Key("pending_shard").eq(key)
        if after is not None and before is not None:
            condition &= Key("submitted_at").between(now_iso(after), now_iso(before))
        elif after is not None:
            condition &= Key("submitted_at").gte(now_iso(after))
        elif before is not None:
            condition &= Key("submitted_at").lt(now_iso(before))
        kwargs: dict[str, Any] = {"IndexName": PENDING_INDEX, "KeyConditionExpression": condition}
        while True:
            page = self.table.query(**kwargs)
            yield from map(IndexEntry.from_item, page["Items"])
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def pending(self, provider: str, submitted_before: datetime | None = None) -> Iterator[IndexEntry]:
        """What `provider` still awaits news for, from the sparse index, shard by shard."""
        for shard in range(self.pending_shards):
            yield from self.indexed(f"{provider}#{shard}", before=submitted_before)

    # -- reads --------------------------------------------------------------------------------------

    def get_all(self, keys: list[dict[str, str]]) -> list[dict[str, Any]]:
        """BatchGetItem, 100 keys a call, consistent, retrying what DynamoDB left unprocessed."""
        client, name, found = self.table.meta.client, self.table.name, []
        for start in range(0, len(keys), 100):
            request: dict[str, Any] = {name: {"Keys": keys[start : start + 100], "ConsistentRead": True}}
            for attempt in range(8):
                answer = client.batch_get_item(RequestItems=request)
                found += answer["Responses"].get(name, [])
                request = answer.get("UnprocessedKeys") or {}
                if not request:
                    break
                time.sleep(min(1.0, 0.05 * 2**attempt))
        return found

    def keep_unmatched(self, provider: str, update: Any, now: datetime | None = None) -> None:
        """A receipt that names no number we can match (masked): kept as it came."""
        now = now or datetime.now(UTC)
        self.table.put_item(
            Item={
                "pk": f"unmatched#{provider}#{update.provider_id}",
                "sk": f"R#{uuid.uuid4().hex}",
                "provider": provider,
                "number_hint": update.number_hint,
                "status": str(update.status),
                "provider_status": update.provider_status,
                "provider_time": update.provider_time or "",
                "received_at": now_iso(now),
                "expires_at": int((now + self.retention).timestamp()),
            }
        )

    # -- internals ----------------------------------------------------------------------------------

    def _query_all(self, condition: Any) -> list[dict[str, Any]]:
        kwargs: dict[str, Any] = {"KeyConditionExpression": condition, "ConsistentRead": True}
        items: list[dict[str, Any]] = []
        while True:
            page = self.table.query(**kwargs)
            items += page["Items"]
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

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


def conditionally(write: Callable[..., Any], **request: Any) -> bool:
    """A conditional write: False when its condition did not hold (nothing written)."""
    try:
        write(**request)
    except ClientError as error:
        if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
        return False
    return True


@functools.cache
def message_store() -> MessageStore:
    config = settings()
    table = boto3.resource("dynamodb").Table(config.messages_table)
    return MessageStore(table, retention_days=config.retention_days, pending_shards=config.pending_shards)
