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

from smsgw.domain.numbers import Recipient, recipient_hash
from smsgw.guards import fraud
from smsgw.platform.config import Settings, settings
from smsgw.platform.errors import RateLimited
from smsgw.platform.observability import count_reason
from smsgw.platform.transactions import transact_write


@dataclass(frozen=True, slots=True)
class _Counter:
    key: str
    limit: int
    window: int  # seconds; fixed windows aligned to the epoch
    message: str
    reason: str = "rate_limited"  # the refusal's code
    offset: int = 0  # seconds the window's edges are shifted by (staggered pairs of windows)


@dataclass(frozen=True, slots=True)
class Charge:
    """What a check counted, so that it can be given back when nothing was sent."""

    counters: tuple[str, ...]  # the counter items' keys, window included
    count: int
    cooldown: str | None = None  # the cooldown item a verification code started


class Limits:
    def __init__(self, table_name: str, config: Settings, clock: Callable[[], float] = time.time) -> None:
        self.table_name = table_name
        self.config = config
        self.clock = clock
        self.client: Any = boto3.client("dynamodb")

    def check_verification(self, recipient: Recipient, source_ip: str | None = None) -> Charge:
        """Cooldown plus two windows for one recipient, and the SMS-pumping guard (`fraud`); raises
        RateLimited with a reason, or counts the code, all in one transaction."""
        now = self.clock()
        self._guard_conversion(recipient, now)
        key = recipient_hash(recipient)
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
                "number_rate",
            ),
            _Counter(
                f"verify-day#{key}",
                self.config.verify_max_per_day,
                86400,
                "verification codes per day",
                "number_rate",
            ),
            *(
                _Counter(g.key, g.limit, g.window, g.message, g.reason, g.offset)
                for g in fraud.guards(recipient, source_ip, self.config)
            ),
        ]
        blocks = fraud.block_checks(recipient, self.table_name, now)
        sent = [sent_key for sent_key, _ in fraud.conversion_keys(recipient, now).values()]
        items = [
            cooldown_update,
            *(self._increment(c, 1, now) for c in counters),
            *blocks,
            *(self._add(k, 1, now + 2 * fraud.DAY) for k in sent),
        ]
        explained = [
            (f"one verification code per {cooldown} s to a number", cooldown, "number_cooldown"),
            *(self._explain(c, now) for c in counters),
            *[("codes to this range or country are rarely approved", 600, "low_conversion")] * len(blocks),
        ]
        self._transact(items, explained)
        keys = tuple(_window_key(c, now) for c in counters) + tuple(sent)
        return Charge(keys, 1, f"verify-cooldown#{key}")

    def approved(self, scopes: tuple[str, ...], now: float | None = None) -> None:
        """A code was approved: it counts for its prefix's and country's conversion."""
        now = self.clock() if now is None else now
        day = int(now) // fraud.DAY * fraud.DAY
        transact_write(
            self.client, [self._add(f"otp-ok#{scope}#{day}", 1, now + 2 * fraud.DAY) for scope in scopes]
        )

    def _guard_conversion(self, recipient: Recipient, now: float) -> None:
        """Block a prefix or country whose codes are rarely approved (one BatchGetItem)."""
        pairs = fraud.conversion_keys(recipient, now)
        keys = [k for pair in pairs.values() for k in pair]
        found = self.client.batch_get_item(
            RequestItems={self.table_name: {"Keys": [{"pk": {"S": k}} for k in keys], "ConsistentRead": True}}
        )["Responses"].get(self.table_name, [])
        hits = {i["pk"]["S"]: int(i["hits"]["N"]) for i in found}
        for scope, (sent_key, ok_key) in pairs.items():
            sent, ok = hits.get(sent_key, 0), hits.get(ok_key, 0)
            if (
                sent >= self.config.otp_conversion_min_sends
                and ok < self.config.otp_conversion_min_rate * sent
            ):
                until = now + self.config.otp_conversion_block_seconds
                self.client.put_item(
                    TableName=self.table_name,
                    Item={
                        "pk": {"S": f"otp-block#{scope}"},
                        "until_ts": {"N": str(until)},
                        "expires_at": {"N": str(int(until) + 60)},
                    },
                )

    def _add(self, key: str, count: int, expires: float) -> dict[str, Any]:
        return {
            "Update": {
                "TableName": self.table_name,
                "Key": {"pk": {"S": key}},
                "UpdateExpression": "ADD hits :count SET expires_at = :expires",
                "ExpressionAttributeValues": {
                    ":count": {"N": str(count)},
                    ":expires": {"N": str(int(expires))},
                },
            }
        }

    @staticmethod
    def _explain(counter: _Counter, now: float) -> tuple[str, int, str]:
        return (
            f"at most {counter.limit} {counter.message}",
            counter.window - (int(now) + counter.offset) % counter.window,
            counter.reason,
        )

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
        self._transact(
            [self._increment(c, count, now) for c in counters], [self._explain(c, now) for c in counters]
        )
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
            transact_write(self.client, items)

    def _increment(self, counter: _Counter, count: int, now: float) -> dict[str, Any]:
        window_start = (int(now) + counter.offset) // counter.window * counter.window - counter.offset
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

    def _transact(self, items: list[dict[str, Any]], explained: list[tuple[str, int, str]]) -> None:
        """One TransactWriteItems; a refusal names each limit it met (`explained`, by item)."""
        try:
            transact_write(self.client, items)
        except ClientError as error:
            if error.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            cancelled = [
                r.get("Code") == "ConditionalCheckFailed"
                for r in error.response.get("CancellationReasons", [])
            ]
            failed = [explained[i] for i, hit in enumerate(cancelled) if hit and i < len(explained)]
            if not failed:
                raise
            message = "; ".join(m for m, _, _ in failed)
            for _, _, reason in failed:
                count_reason("LimitRefusals", reason)
            wait = max(w for _, w, _ in failed)
            raise RateLimited(f"limit reached: {message}", wait, failed[0][2]) from None


def _window_key(counter: _Counter, now: float) -> str:
    start = (int(now) + counter.offset) // counter.window * counter.window - counter.offset
    return f"{counter.key}#{start}"


@functools.cache
def limits() -> Limits:
    config = settings()
    return Limits(config.limits_table, config)
