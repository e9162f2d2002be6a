"""One requests-per-second limit per provider account, across every container (the document's
230sms code 105: "account default concurrency limit 100"): sends, verification codes and the
poller's queries of all Lambda containers count against the same slots.

Time is cut into slots of 100 ms, each allowing rate/10 requests (rounded down, at least one),
counted in one DynamoDB item per slot (limits table, `rate#<provider>#<account>#<slot>`) by a
conditional ADD: a request takes a place in the current slot or waits for the next. Any one-second
window overlaps at most 11 slots, so at 95/s no second holds more than 11 x 9 = 99 requests. Each
provider request costs one small write; slot items expire after a minute.
"""

import functools
import hashlib
import time
from collections.abc import Callable
from typing import Any

import boto3
from botocore.exceptions import ClientError

from .config import settings
from .observability import count

SLOT_SECONDS = 0.1


class AccountRate:
    def __init__(
        self,
        client: Any,
        table_name: str,
        provider: str,
        account: str,
        per_second: float,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.table_name = table_name
        self.provider = provider
        # The account's public id, hashed: a key, not something to read back.
        self.key = f"rate#{provider}#{hashlib.sha256(account.encode()).hexdigest()[:16]}"
        self.per_slot = max(1, int(per_second * SLOT_SECONDS))
        self.clock = clock
        self.sleep = sleep

    def acquire(self) -> None:
        waited = False
        while True:
            now = self.clock()
            slot = int(now / SLOT_SECONDS)
            if self._take(slot, now):
                if waited:
                    count("RateLimitWaits", 1, self.provider)
                return
            waited = True
            self.sleep(max(0.0, (slot + 1) * SLOT_SECONDS - self.clock()))

    def _take(self, slot: int, now: float) -> bool:
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key={"pk": {"S": f"{self.key}#{slot}"}},
                UpdateExpression="ADD used :one SET expires_at = if_not_exists(expires_at, :expires)",
                ConditionExpression="attribute_not_exists(used) OR used < :cap",
                ExpressionAttributeValues={
                    ":one": {"N": "1"},
                    ":cap": {"N": str(self.per_slot)},
                    ":expires": {"N": str(int(now) + 60)},
                },
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return False
        return True


def install() -> None:
    """Hold every paced provider account to its rate across containers (the limits table)."""
    from .providers.pacing import use_shared_limit  # noqa: PLC0415

    table = settings().limits_table
    use_shared_limit(functools.partial(_account_rate, table) if table else None)


def _account_rate(table: str, provider: str, account: str, per_second: float) -> AccountRate:
    return AccountRate(boto3.client("dynamodb"), table, provider, account, per_second)
