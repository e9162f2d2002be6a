"""Abuse limits, as atomic counters in the limits table (each item expires by TTL).

Verification codes, per recipient: a cooldown between codes, and at most N per 10 minutes and per day.
Per API key: recipients per minute and per day. All the counters of one check move in one
TransactWriteItems, so a refused request consumes nothing.
"""

import functools
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.exceptions import ClientError

from .config import Settings, settings
from .errors import RateLimited
from .numbers import Recipient, number_hash


@dataclass(frozen=True, slots=True)
class _Counter:
    key: str
    limit: int
    window: int  # seconds; fixed windows aligned to the epoch
    message: str


@dataclass(frozen=True, slots=True)
class Charge:
    """What a check counted, so that it can be given back when nothing was sent."""

    counters: tuple[str, ...]  # the counter items' keys, window included
    count: int
    cooldown: str | None = None  # the cooldown item a verification code started


def number_key(recipient: Recipient) -> str:
    """Limits are keyed by a hash: the limits table never holds a phone number."""
    return number_hash(recipient.e164)


class Limits:
    def __init__(self, table_name: str, config: Settings, clock: Callable[[], float] = time.time) -> None:
        self.table_name = table_name
        self.config = config
        self.clock = clock
        self.client: Any = boto3.client("dynamodb")

    def check_verification(self, recipient: Recipient) -> Charge:
        """Cooldown plus two windows for one recipient; raises RateLimited, or counts the code."""
        now = self.clock()
        key = number_key(recipient)
        cooldown = self.config.verify_cooldown_seconds
        cooldown_update = {
            "Update": {
                "TableName": self.table_name,
                "Key": {"pk": {"S": f"verify-cooldown#{key}"}},
                "UpdateExpression": "SET until_ts = :until, expires_at = :expires",
                "ConditionExpression": "attribute_not_exists(until_ts) OR until_ts <= :now",
                "ExpressionAttributeValues": {
                    ":until": {"N": str(now + cooldown)},
                    ":now": {"N": str(now)},
                    ":expires": {"N": str(int(now + cooldown + 60))},
                },
            }
        }
        counters = [
            _Counter(
                f"verify-10m#{key}",
                self.config.verify_max_per_10_minutes,
                600,
                "verification codes per 10 minutes",
            ),
            _Counter(
                f"verify-day#{key}", self.config.verify_max_per_day, 86400, "verification codes per day"
            ),
        ]
        reasons = [(f"one verification code per {cooldown} s to a number", cooldown)]
        self._transact(
            [cooldown_update, *(self._increment(c, 1, now) for c in counters)], reasons, counters, now
        )
        return Charge(tuple(_window_key(c, now) for c in counters), 1, f"verify-cooldown#{key}")

    def consume_recipients(self, api_key: str, count: int) -> Charge:
        now = self.clock()
        key = hashlib.sha256(api_key.encode()).hexdigest()[:32]
        counters = [
            _Counter(
                f"apikey-minute#{key}", self.config.api_key_recipients_per_minute, 60, "recipients per minute"
            ),
            _Counter(
                f"apikey-day#{key}", self.config.api_key_recipients_per_day, 86400, "recipients per day"
            ),
        ]
        for counter in counters:
            if count > counter.limit:
                raise RateLimited(
                    f"{count} recipients exceed this API key's {counter.limit} {counter.message}", 60
                )
        self._transact([self._increment(c, count, now) for c in counters], [], counters, now)
        return Charge(tuple(_window_key(c, now) for c in counters), count)

    def refund(self, charges: list[Charge], count: int) -> None:
        """Give back `count` of each charge (at most what it counted) and end the cooldowns they
        started, in one transaction: for recipients nothing was sent to (refused, unreachable)."""
        items: list[dict[str, Any]] = []
        for charge in charges:
            back = min(count, charge.count)
            items += [
                {
                    "Update": {
                        "TableName": self.table_name,
                        "Key": {"pk": {"S": key}},
                        "UpdateExpression": "ADD hits :back",
                        "ConditionExpression": "attribute_exists(hits)",
                        "ExpressionAttributeValues": {":back": {"N": str(-back)}},
                    }
                }
                for key in charge.counters
                if back > 0
            ]
            if charge.cooldown and back >= charge.count:
                items.append(
                    {"Delete": {"TableName": self.table_name, "Key": {"pk": {"S": charge.cooldown}}}}
                )
        if items:
            self.client.transact_write_items(TransactItems=items)

    def _increment(self, counter: _Counter, count: int, now: float) -> dict[str, Any]:
        window_start = int(now) // counter.window * counter.window
        return {
            "Update": {
                "TableName": self.table_name,
                "Key": {"pk": {"S": _window_key(counter, now)}},
                "UpdateExpression": "ADD hits :count SET expires_at = :expires",
                "ConditionExpression": "attribute_not_exists(hits) OR hits <= :room",
                "ExpressionAttributeValues": {
                    ":count": {"N": str(count)},
                    ":room": {"N": str(counter.limit - count)},
                    ":expires": {"N": str(window_start + counter.window + 60)},
                },
            }
        }

    def _transact(
        self,
        items: list[dict[str, Any]],
        reasons: list[tuple[str, int]],
        counters: list[_Counter],
        now: float,
    ) -> None:
        try:
            self.client.transact_write_items(TransactItems=items)
        except ClientError as error:
            if error.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            cancelled = [
                r.get("Code") == "ConditionalCheckFailed"
                for r in error.response.get("CancellationReasons", [])
            ]
            explained = reasons + [
                (f"at most {c.limit} {c.message}", c.window - int(now) % c.window) for c in counters
            ]
            failed = [explained[i] for i, hit in enumerate(cancelled) if hit and i < len(explained)]
            if not failed:
                raise
            message = "; ".join(m for m, _ in failed)
            raise RateLimited(f"limit reached: {message}", max(wait for _, wait in failed)) from None


def _window_key(counter: _Counter, now: float) -> str:
    return f"{counter.key}#{int(now) // counter.window * counter.window}"


@functools.cache
def limits() -> Limits:
    config = settings()
    return Limits(config.limits_table, config)
