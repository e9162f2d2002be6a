"""A guard against SMS pumping on verification codes, checked before any provider call.

Counters in the limits table (hashes, never numbers), all moved in the same transaction as the
per-number verification limits, so a refusal consumes nothing:
- velocity per number prefix (the number without its last 4 digits) and per source IP, per hour;
- a daily budget per country and a global daily budget of codes;
- a conversion guard: per prefix and per country, the share of sent codes that were approved. When
  it falls under OTP_CONVERSION_MIN_RATE over at least OTP_CONVERSION_MIN_SENDS sends in a day, the
  prefix (or country) is blocked for OTP_CONVERSION_BLOCK_SECONDS: pumped numbers never convert.
Each refusal is a 429 with a reason code and Retry-After, and a metric by reason.
"""

import hashlib
from dataclasses import dataclass
from typing import Any

from smsgw.domain.numbers import Recipient
from smsgw.platform.config import Settings

DAY, HOUR = 86400, 3600


@dataclass(frozen=True, slots=True)
class Guard:
    key: str  # counter key without its window
    limit: int
    window: int
    message: str
    reason: str  # the refusal's code
    offset: int = 0  # window edges shifted by this many seconds


def scopes(recipient: Recipient) -> dict[str, str]:
    """The hashed scopes a code counts in: its number prefix and its country."""
    prefix = recipient.e164[:-4]
    return {
        "prefix": hashlib.sha256(prefix.encode()).hexdigest()[:24],
        "country": str(recipient.country_code),
    }


def staggered(guard: Guard) -> list[Guard]:
    """A fixed window lets twice its limit through across its edge; a second window with edges half
    a window later caps such a burst: a code must fit both."""
    return [
        guard,
        Guard(guard.key + "#b", guard.limit, guard.window, guard.message, guard.reason, guard.window // 2),
    ]


def guards(recipient: Recipient, source_ip: str | None, config: Settings) -> list[Guard]:
    scope = scopes(recipient)
    budget = dict(config.otp_country_daily_budgets).get(
        recipient.country_code, config.otp_country_daily_default
    )
    found = [
        *staggered(
            Guard(
                f"otp-prefix-hour#{scope['prefix']}",
                config.otp_prefix_per_hour,
                HOUR,
                "codes per hour to this number range",
                "prefix_velocity",
            )
        ),
        Guard(
            f"otp-country-day#{scope['country']}",
            budget,
            DAY,
            f"codes per day to +{recipient.country_code}",
            "country_budget",
        ),
        Guard("otp-day", config.otp_daily_budget, DAY, "codes per day in all", "global_budget"),
    ]
    if source_ip:
        ip = hashlib.sha256(source_ip.encode()).hexdigest()[:24]
        found += staggered(
            Guard(
                f"otp-ip-hour#{ip}",
                config.otp_ip_per_hour,
                HOUR,
                "codes per hour from this address",
                "ip_velocity",
            )
        )
    return found


def block_checks(recipient: Recipient, table: str, now: float) -> list[dict[str, Any]]:
    """ConditionChecks that no conversion block stands on the number's prefix or country."""
    scope = scopes(recipient)
    return [
        {
            "ConditionCheck": {
                "TableName": table,
                "Key": {"pk": {"S": f"otp-block#{kind}#{value}"}},
                "ConditionExpression": "attribute_not_exists(until_ts) OR until_ts <= :now",
                "ExpressionAttributeValues": {":now": {"N": str(now)}},
            }
        }
        for kind, value in scope.items()
    ]


def conversion_keys(recipient: Recipient, now: float) -> dict[str, tuple[str, str]]:
    """scope -> (sent counter, approved counter) of today."""
    day = int(now) // DAY * DAY
    return {
        f"{kind}#{value}": (f"otp-sent#{kind}#{value}#{day}", f"otp-ok#{kind}#{value}#{day}")
        for kind, value in scopes(recipient).items()
    }
