"""The messages table's layout: its keys, and its items as typed values. Nothing outside `storage`
reads a raw item: it gets a `RequestItem`, a `StatusItem` or an `IndexEntry`.

- A **request item** (`pk` = "req#<provider>#<key>", `sk` = "REQ"): one per provider request.
- A **status item** (`pk` = "num#<provider>#<number key>", `sk` = <request key>): one per message
  that had news.
- An **index entry**: a request awaiting news, as the sparse `Pending` index shows it.
"""

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

REQUEST = "REQ"  # the sort key of every request item
PENDING_INDEX = "Pending"
UNKNOWN_KEY, PARTIAL_KEY = "unknown", "partial"  # index keys "<provider>#unknown" and "<provider>#partial"
NOT_TAKEN = "NOT_TAKEN"  # provider_status of a number the provider did not take


def now_iso(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def request_pk(provider: str, key: str) -> str:
    return f"req#{provider}#{key}"


def status_pk(provider: str, nkey: str) -> str:
    return f"num#{provider}#{nkey}"


def unknown_request_key() -> str:
    """A key for a request whose outcome is unknown: the provider gave us no id for it."""
    return f"x{uuid.uuid4().hex[:20]}"


@dataclass(frozen=True, slots=True)
class MessageRef:
    """What a message id says: its provider, its request's key and its number's key."""

    provider: str
    key: str
    nkey: str


def _text(item: dict[str, Any], name: str) -> str | None:
    value = item.get(name)
    return None if value is None or value == "" else str(value)


@dataclass(frozen=True, slots=True)
class RequestItem:
    """A provider request as recorded, and what has happened to it since."""

    provider: str
    key: str  # the provider's id for the request (or its first number's); ours if it gave none
    numbers: list[str]  # E.164, in the order sent
    status: str  # submitted or unknown
    submitted_at: str
    kind: str | None = None
    request_id: str | None = None
    tenant: str | None = None
    provider_ids: list[str] = field(default_factory=list)  # one per number, where the provider gives each
    provider_id: str | None = None  # the provider's id for the whole request
    taken: int | None = None  # fewer than the numbers: the provider dropped some
    progress: dict[str, str] = field(default_factory=dict)  # polled: provider id -> last status seen
    reconciled_at: str | None = None
    closed_at: str | None = None  # past the receipt window (or settled): no longer awaiting news
    closed_as: str | None = None  # the status its messages without news then read
    closed_status: str | None = None
    status_callback: str | None = None  # where this request's message events also go (webhooks)

    @property
    def pk(self) -> str:
        return request_pk(self.provider, self.key)

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> "RequestItem":
        # The numbers are one string, not a list: DynamoDB bills the same bytes either way, and every
        # reader (and Moto) handles one value, not a thousand.
        _, provider, key = str(item["pk"]).split("#", 2)
        ids = item.get("provider_ids")
        return cls(
            provider=provider,
            key=key,
            numbers=str(item.get("numbers") or "").split(),
            status=str(item.get("status", "submitted")),
            submitted_at=str(item.get("submitted_at", "")),
            kind=_text(item, "kind"),
            request_id=_text(item, "request_id"),
            tenant=_text(item, "tenant"),
            provider_ids=[str(i) for i in json.loads(str(ids))] if ids else [],
            provider_id=_text(item, "provider_id"),
            taken=int(item["taken"]) if item.get("taken") is not None else None,
            progress={str(k): str(v) for k, v in (item.get("progress") or {}).items()},
            reconciled_at=_text(item, "reconciled_at"),
            closed_at=_text(item, "closed_at"),
            closed_as=_text(item, "closed_as"),
            closed_status=_text(item, "closed_status"),
            status_callback=_text(item, "status_callback"),
        )


@dataclass(frozen=True, slots=True)
class StatusItem:
    """News about one message: a receipt, a polled change, a reconciliation."""

    ref: MessageRef
    status: str
    provider_status: str | None = None
    first_at: str = ""
    updated_at: str | None = None
    delivered_at: str | None = None
    provider_time: str | None = None
    provider_id: str | None = None
    reconciled_from: str | None = None  # the orphan receipt's message id, on the message it was given to
    reconciled_to: str | None = None  # the message it was given to, on the orphan receipt
    seq: int = 0  # how many times its status changed (webhook events' `sequence`)

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> "StatusItem":
        _, provider, nkey = str(item["pk"]).split("#", 2)
        return cls(
            ref=MessageRef(provider, str(item["sk"]), nkey),
            status=str(item["status"]),
            provider_status=_text(item, "provider_status"),
            first_at=str(item.get("first_at", "")),
            updated_at=_text(item, "updated_at"),
            delivered_at=_text(item, "delivered_at"),
            provider_time=_text(item, "provider_time"),
            provider_id=_text(item, "provider_id"),
            reconciled_from=_text(item, "reconciled_from"),
            reconciled_to=_text(item, "reconciled_to"),
            seq=int(item.get("seq", 0)),
        )


@dataclass(frozen=True, slots=True)
class IndexEntry:
    """A request awaiting news, as the `Pending` index shows it (its keys and submission time)."""

    pk: str
    submitted_at: str

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> "IndexEntry":
        return cls(str(item["pk"]), str(item.get("submitted_at", "")))
