"""Who is calling: the API key decides whose messages, blocklist and quotas a request touches."""

import hashlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from smsgw.platform.config import settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


# A caller's Idempotency-Key: printable ASCII, no spaces (the OpenAPI document shows the same).
IDEMPOTENCY_KEY_PATTERN = re.compile(r"[\x21-\x7e]{1,255}")


def tenant_of(api_key: str) -> str | None:
    """The tenant an API key (its id) belongs to: a hash of it, or None in single-tenant mode
    (TENANCY=single: every key shares messages and the blocklist)."""
    if settings().tenancy == "single":
        return None
    return hashlib.sha256(api_key.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Caller:
    request_id: str
    api_key: str  # the API key's id: scopes idempotency keys, quotas and (per tenant) data
    idempotency_key: str | None = None
    context: "LambdaContext | None" = None
    source_ip: str | None = None  # as API Gateway saw it (the SMS-pumping guard counts per address)

    @property
    def tenant(self) -> str | None:
        return tenant_of(self.api_key)
