"""The blocklist: numbers that must never be sent to (opt-outs), in the limits table under a hash."""

import functools
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3

from .config import settings
from .content import text_problem
from .errors import FieldError, ValidationError
from .limits import number_key
from .numbers import Recipient


def block_reason(body: Any) -> str:
    """The optional `reason` of a PUT: short plain text; no other field."""
    if not isinstance(body, dict):
        raise ValidationError.single("body", "must be a JSON object")
    unknown = [FieldError(key[:64], "unknown field") for key in body if key != "reason"]
    reason: Any = body.get("reason", "")
    if not isinstance(reason, str) or len(reason) > 200:
        unknown.append(FieldError("reason", "must be text of at most 200 characters"))
    elif reason and (problem := text_problem(reason, newlines=False)):
        unknown.append(FieldError("reason", problem))
    if unknown:
        raise ValidationError(unknown)
    return str(reason)


class Blocklist:
    def __init__(self, table_name: str, clock: Callable[[], float] = time.time) -> None:
        self.table_name = table_name
        self.clock = clock
        self.client: Any = boto3.client("dynamodb")

    def blocked(self, recipients: Iterable[Recipient], tenant: str | None = None) -> set[Recipient]:
        """Which recipients are on the blocklist: BatchGetItem, 100 keys a call, calls in parallel."""
        by_key = {_key(r, tenant): r for r in recipients}
        keys = list(by_key)
        batches = [keys[i : i + 100] for i in range(0, len(keys), 100)]
        if len(batches) == 1:
            found = [self._get_batch(batches[0])]
        else:
            with ThreadPoolExecutor(max_workers=min(8, len(batches))) as pool:
                found = list(pool.map(self._get_batch, batches))
        return {by_key[key] for keys_found in found for key in keys_found}

    def _get_batch(self, keys: list[str]) -> list[str]:
        request: dict[str, Any] = {
            self.table_name: {"Keys": [{"pk": {"S": k}} for k in keys], "ProjectionExpression": "pk"}
        }
        found: list[str] = []
        while request:
            answer = self.client.batch_get_item(RequestItems=request)
            found += [item["pk"]["S"] for item in answer["Responses"].get(self.table_name, [])]
            request = answer.get("UnprocessedKeys") or {}
        return found

    def block(self, recipient: Recipient, reason: str, tenant: str | None = None) -> dict[str, Any]:
        item = {
            "pk": {"S": _key(recipient, tenant)},
            "number_masked": {"S": recipient.masked},
            "reason": {"S": reason},
            "blocked_at": {"N": str(int(self.clock()))},
        }
        self.client.put_item(TableName=self.table_name, Item=item)
        return self.describe(recipient, item)

    def unblock(self, recipient: Recipient, tenant: str | None = None) -> bool:
        answer = self.client.delete_item(
            TableName=self.table_name,
            Key={"pk": {"S": _key(recipient, tenant)}},
            ReturnValues="ALL_OLD",
        )
        return "Attributes" in answer

    def lookup(self, recipient: Recipient, tenant: str | None = None) -> dict[str, Any]:
        answer = self.client.get_item(
            TableName=self.table_name,
            Key={"pk": {"S": _key(recipient, tenant)}},
            ConsistentRead=True,
        )
        return self.describe(recipient, answer.get("Item"))

    @staticmethod
    def describe(recipient: Recipient, item: dict[str, Any] | None) -> dict[str, Any]:
        if not item:
            return {"number": recipient.e164, "blocked": False}
        return {
            "number": recipient.e164,
            "blocked": True,
            "reason": item.get("reason", {}).get("S", ""),
            "blocked_at": int(item["blocked_at"]["N"]),
        }


def _key(recipient: Recipient, tenant: str | None) -> str:
    """Each tenant has its own blocklist (single-tenant mode: one, under the older unscoped keys)."""
    return f"block#{tenant}#{number_key(recipient)}" if tenant else f"block#{number_key(recipient)}"


@functools.cache
def blocklist() -> Blocklist:
    return Blocklist(settings().limits_table)
