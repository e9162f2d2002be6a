"""Provider requests that carry one id for all their numbers (a 230sms task), in the messages table.

A task item (`pk` = "task#<provider>#<id>", `sk` = "TASK") keeps the numbers sent and what the
provider said of them: how many it took (`taken`) and billed. It is written in the send's own
batches (one item per 1,000 numbers). It serves two things receipts alone cannot:
- a receipt whose number is masked or partial is matched against the task's numbers;
- when the provider took fewer numbers than were sent, the task sits in the sparse `Pending`
  index (key "<provider>#partial") until its receipts are in: the numbers without one are then
  `failed` (the provider did not take them), without waiting for the receipt window.
Receipts that match no message are kept under "unmatched#<provider>#<id>" for reconciliation.
"""

import functools
import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

from .config import settings
from .messages import FINAL, Status
from .providers.base import StatusUpdate, Task
from .store import STATUS, SUBMISSION, MessageStore, message_store, now_iso

TASK = "TASK"
NOT_TAKEN = "NOT_TAKEN"  # provider_status of a number the provider did not take


def task_key(provider: str, provider_id: str) -> str:
    return f"task#{provider}#{provider_id}"


class TaskStore:
    def __init__(self, table: Any, messages: MessageStore, *, retention_days: int) -> None:
        self.table = table
        self.messages = messages
        self.retention = timedelta(days=retention_days)

    def item(self, provider: str, task: Task, now: datetime) -> dict[str, Any]:
        """The task's item, for the send's batches."""
        item: dict[str, Any] = {
            "pk": task_key(provider, task.provider_id),
            "sk": TASK,
            "provider": provider,
            "provider_id": task.provider_id,
            "numbers": [r.e164 for r in task.recipients],
            "sent": len(task.recipients),
            "submitted_at": now_iso(now),
            "expires_at": int((now + self.retention).timestamp()),
        }
        if task.taken is not None:
            item["taken"] = task.taken
        if task.billed is not None:
            item["billed"] = task.billed
        if task.dropped:
            item["pending_shard"] = f"{provider}#partial"
        return item

    def numbers(self, provider: str, provider_id: str) -> list[str]:
        """The numbers a task was sent to (one read); [] when we have no such task."""
        found = self.table.get_item(
            Key={"pk": task_key(provider, provider_id), "sk": TASK}, ConsistentRead=True
        ).get("Item")
        return [str(n) for n in found.get("numbers", [])] if found else []

    def keep_unmatched(self, provider: str, update: StatusUpdate, now: datetime | None = None) -> None:
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

    def partial(self, provider: str) -> Iterator[dict[str, Any]]:
        """Tasks of `provider` that took fewer numbers than were sent and are not settled yet (the
        index projects only some attributes: each task is read whole, and such tasks are rare)."""
        for found in self.messages.indexed(f"{provider}#partial"):
            item = self.messages.item(str(found["pk"]), TASK)
            if item and "pending_shard" in item:
                yield item

    def settle_partial(
        self, item: dict[str, Any], message_ids: Mapping[str, str], window_start: datetime, now: datetime
    ) -> int | None:
        """Once as many receipts as the provider took are in, the numbers without one are `failed`;
        returns how many, or None while receipts are still expected."""
        received = self._received(list(message_ids.values()))
        if len(received) < int(item["taken"]) and item["submitted_at"] >= now_iso(window_start):
            return None
        failed = 0
        if len(received) >= int(item["taken"]):
            for message_id in message_ids.values():
                if message_id not in received:
                    failed += self.messages.apply_receipt(message_id, Status.FAILED, NOT_TAKEN, "", now)
        # Settled, or past the window (its messages then become unknown like any other).
        self.messages.unflag(str(item["pk"]), TASK)
        return failed

    def _received(self, message_ids: list[str]) -> set[str]:
        """Which of these messages have a final status from a receipt: on the message's item, or on
        a status item of its own when it raced its batch (BatchGetItem, 100 keys a call)."""
        found: set[str] = set()
        client, name = self.table.meta.client, self.table.name
        keys = [{"pk": m, "sk": sort_key} for m in message_ids for sort_key in (SUBMISSION, STATUS)]
        for start in range(0, len(keys), 100):
            request: dict[str, Any] = {name: {"Keys": keys[start : start + 100], "ConsistentRead": True}}
            while request:
                answer = client.batch_get_item(RequestItems=request)
                found |= {
                    str(i["pk"]) for i in answer["Responses"].get(name, []) if str(i.get("status")) in FINAL
                }
                request = answer.get("UnprocessedKeys") or {}
        return found


@functools.cache
def task_store() -> TaskStore:
    config = settings()
    table = boto3.resource("dynamodb").Table(config.messages_table)
    return TaskStore(table, message_store(), retention_days=config.retention_days)
