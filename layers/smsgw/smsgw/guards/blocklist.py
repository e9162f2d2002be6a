"""The blocklist: numbers that must never be sent to (opt-outs), under a hash, in a table of its own
that outlives the stack (an opt-out is a legal obligation)."""

import functools
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3

from smsgw.domain.content import text_problem
from smsgw.domain.numbers import Recipient, number_hashes, recipient_hash, trusted_e164
from smsgw.platform.config import settings
from smsgw.platform.errors import FieldError, ValidationError
from smsgw.platform.transactions import transact_write


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


# A tenant's blocked numbers are also kept as one set item (`blockset#<tenant>`), in the same
# transaction as each entry: a large send then reads one item, not one key per recipient. Up to
# SET_CAP numbers (about 170 KB); past it the set is marked overflowing and sends read per recipient.
SET_CAP = 5_000
# Below this many recipients, reading their own keys costs no more than the set.
PER_KEY_BELOW = 100


class Blocklist:
    def __init__(self, table_name: str, clock: Callable[[], float] = time.time) -> None:
        self.table_name = table_name
        self.clock = clock
        self.client: Any = boto3.client("dynamodb")

    def blocked(self, recipients: Iterable[Recipient], tenant: str | None = None) -> set[Recipient]:
        """Which recipients are on the blocklist: the tenant's set in one read for a large send,
        else (or when the set overflowed) each recipient's key."""
        unique = set(recipients)
        if len(unique) >= PER_KEY_BELOW:
            members = self._set(tenant)
            if members is not None:  # an empty set (the usual case) needs no key at all
                return {r for r in unique if _listed(r.e164, members)} if members else set()
        by_key = {_key(h, tenant): r for r in unique for h in number_hashes(r.e164)}
        keys = list(by_key)
        batches = [keys[i : i + 100] for i in range(0, len(keys), 100)]
        if len(batches) == 1:
            found = [self._get_batch(batches[0])]
        else:
            with ThreadPoolExecutor(max_workers=min(8, len(batches))) as pool:
                found = list(pool.map(self._get_batch, batches))
        return {by_key[key] for keys_found in found for key in keys_found}

    def checker(self, tenant: str | None = None) -> Callable[[list[str]], set[str]]:
        """`blocked` for a stream of large batches of E.164 numbers (a campaign's list, read in parts):
        the tenant's set is read once for all of them; where it cannot be trusted, each batch reads
        its keys."""
        members = self._set(tenant)
        if members is None:
            return lambda batch: {r.e164 for r in self.blocked(map(trusted_e164, batch), tenant)}
        return lambda batch: {e for e in batch if _listed(e, members)} if members else set()

    def _set(self, tenant: str | None) -> set[str] | None:
        """The tenant's blocked number keys, or None where the set cannot be trusted (overflowing)."""
        keys = [{"pk": {"S": _set_key(tenant)}}]
        answer = self.client.batch_get_item(
            RequestItems={self.table_name: {"Keys": keys, "ConsistentRead": True}}
        )
        if answer.get("UnprocessedKeys"):
            return None
        found: dict[str, Any] = next(iter(answer["Responses"].get(self.table_name, [])), {})
        if "overflow" in found:
            return None
        return set(found.get("keys", {}).get("SS", []))

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
            "pk": {"S": _key(recipient_hash(recipient), tenant)},
            "number_masked": {"S": recipient.masked},
            "reason": {"S": reason},
            "blocked_at": {"N": str(int(self.clock()))},
        }
        self._with_set(
            {"Put": {"TableName": self.table_name, "Item": item}}, recipient_hash(recipient), tenant
        )
        return self.describe(recipient, item)

    def _with_set(self, entry_write: dict[str, Any], key: str, tenant: str | None) -> None:
        """Write an entry and add its number to the tenant's set, or mark the set overflowing."""
        add = {
            "TableName": self.table_name,
            "Key": {"pk": {"S": _set_key(tenant)}},
            "UpdateExpression": "ADD #keys :key",
            "ConditionExpression": "attribute_not_exists(overflow)"
            " AND (attribute_not_exists(#keys) OR size(#keys) < :cap OR contains(#keys, :one))",
            "ExpressionAttributeNames": {"#keys": "keys"},
            "ExpressionAttributeValues": {
                ":key": {"SS": [key]},
                ":one": {"S": key},
                ":cap": {"N": str(SET_CAP)},
            },
        }
        try:
            transact_write(self.client, [entry_write, {"Update": add}])
            return
        except self.client.exceptions.TransactionCanceledException as error:
            if _codes(error)[1:] != ["ConditionalCheckFailed"]:
                raise
        overflow = {
            "TableName": self.table_name,
            "Key": {"pk": {"S": _set_key(tenant)}},
            "UpdateExpression": "SET overflow = :yes REMOVE #keys",
            "ExpressionAttributeNames": {"#keys": "keys"},
            "ExpressionAttributeValues": {":yes": {"BOOL": True}},
        }
        transact_write(self.client, [entry_write, {"Update": overflow}])

    def unblock(self, recipient: Recipient, tenant: str | None = None) -> bool:
        """Remove the number's entry: under its own key, and (LEGACY_NUMBER_KEYS) one recorded
        before the number key. True if there was one."""
        removed = [self._unblock(key, tenant) for key in number_hashes(recipient.e164)]
        return any(removed)

    def _unblock(self, key: str, tenant: str | None) -> bool:
        delete = {
            "TableName": self.table_name,
            "Key": {"pk": {"S": _key(key, tenant)}},
            "ConditionExpression": "attribute_exists(pk)",
        }
        remove = {
            "TableName": self.table_name,
            "Key": {"pk": {"S": _set_key(tenant)}},
            "UpdateExpression": "DELETE #keys :key",
            "ExpressionAttributeNames": {"#keys": "keys"},
            "ExpressionAttributeValues": {":key": {"SS": [key]}},
        }
        try:
            transact_write(self.client, [{"Delete": delete}, {"Update": remove}])
        except self.client.exceptions.TransactionCanceledException as error:
            if _codes(error)[0] != "ConditionalCheckFailed":
                raise
            return False
        return True

    def lookup(self, recipient: Recipient, tenant: str | None = None) -> dict[str, Any]:
        item = None
        for key in number_hashes(recipient.e164):  # its own, then (legacy) one from before the number key
            answer = self.client.get_item(
                TableName=self.table_name, Key={"pk": {"S": _key(key, tenant)}}, ConsistentRead=True
            )
            if item := answer.get("Item"):
                break
        return self.describe(recipient, item)

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


def _key(number_key: str, tenant: str | None) -> str:
    """Each tenant has its own blocklist (single-tenant mode: one, under the older unscoped keys)."""
    return f"block#{tenant}#{number_key}" if tenant else f"block#{number_key}"


def _listed(e164: str, members: set[str]) -> bool:
    return any(key in members for key in number_hashes(e164))


def _set_key(tenant: str | None) -> str:
    return f"blockset#{tenant}" if tenant else "blockset#"


def _codes(error: Any) -> list[str]:
    return [reason.get("Code", "None") for reason in error.response.get("CancellationReasons", [])]


@functools.cache
def blocklist() -> Blocklist:
    return Blocklist(settings().blocklist_table)
