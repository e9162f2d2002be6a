"""Which tenant an API key belongs to. A tenant's messages, blocklist and campaigns are keyed by its
tenant id, so the id must outlive the key: a rotated key, or a second key for the same application,
is attached to the existing tenant (`scripts/attach_api_key.py`), and its opt-outs and history stay.

An API key with no attachment is its own tenant, under the id it always had (a hash of the key's
id): nothing changes for keys never attached. Attachments live in the blocklist table, which is
retained when the stack is deleted. A container remembers an answer for CACHE_SECONDS, so an
attachment holds everywhere within a minute. With TENANCY=single every key shares one tenant (None);
attaching keys to the shared tenant ("") keeps that data reachable after a switch to per-key.
"""

import functools
import hashlib
import threading
import time
from collections.abc import Callable
from typing import Any

import boto3

from smsgw.platform.config import settings

CACHE_SECONDS = 60.0
SHARED = ""  # the tenant of TENANCY=single (no tenant): attach a key to it to keep that data


def default_tenant(api_key: str) -> str:
    """The tenant of a key never attached to another: derived from the key's id, as it always was."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:16]


def _key(api_key: str) -> dict[str, Any]:
    return {"pk": {"S": f"apikey#{api_key}"}}


class Tenants:
    def __init__(
        self, table_name: str, *, single: bool = False, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.table_name = table_name
        self.single = single  # TENANCY=single: every key shares one tenant
        self.clock = clock
        self.client: Any = boto3.client("dynamodb")
        self._known: dict[str, tuple[float, str | None]] = {}
        self._lock = threading.Lock()

    def of(self, api_key: str) -> str | None:
        """The tenant whose data a request with this API key (its id) reads and writes."""
        if self.single:
            return None
        now = self.clock()
        with self._lock:
            known = self._known.get(api_key)
        if known is not None and now - known[0] < CACHE_SECONDS:
            return known[1]
        tenant = self.lookup(api_key) or None
        with self._lock:
            if len(self._known) >= 1024:  # a container serves few keys
                self._known.clear()
            self._known[api_key] = (now, tenant)
        return tenant

    def lookup(self, api_key: str) -> str:
        """The key's tenant as attached (SHARED: the shared one), else its own: one read, no cache."""
        item = self.client.get_item(
            TableName=self.table_name, Key=_key(api_key), ProjectionExpression="tenant", ConsistentRead=True
        ).get("Item")
        return str(item["tenant"]["S"]) if item else default_tenant(api_key)

    def attach(self, api_key: str, tenant: str) -> None:
        """From now on (within CACHE_SECONDS everywhere) `api_key` reads and writes `tenant`'s data."""
        self.client.put_item(
            TableName=self.table_name,
            Item={**_key(api_key), "tenant": {"S": tenant}, "attached_at": {"N": str(int(time.time()))}},
        )


@functools.cache
def tenants() -> Tenants:
    config = settings()
    return Tenants(config.blocklist_table, single=config.tenancy == "single")
