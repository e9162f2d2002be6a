"""Who is calling: the API key decides whose messages, blocklist and quotas a request touches."""

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


# A caller's Idempotency-Key: printable ASCII, no spaces (the OpenAPI document shows the same).
IDEMPOTENCY_KEY_PATTERN = re.compile(r"[\x21-\x7e]{1,255}")


@dataclass(frozen=True, slots=True)
class Caller:
    request_id: str
    api_key: str  # the API key's id: scopes idempotency keys, quotas and (per tenant) data
    idempotency_key: str | None = None
    context: "LambdaContext | None" = None
    source_ip: str | None = None  # as API Gateway saw it (the SMS-pumping guard counts per address)
    tenant: str | None = None  # whose data it reads and writes (guards/tenants.py; None: shared)
