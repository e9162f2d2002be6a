"""Events that are not one status write: a request closed past its receipt window (each of its
messages without a final status turns `unknown`, or what it was closed as), a campaign starting,
finishing or being cancelled (its item's state in the stream), and a verification approved or found
expired (told by the check itself)."""

from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from smsgw.domain.numbers import number_keys
from smsgw.domain.statuses import FINAL, Status
from smsgw.providers.registry import classes
from smsgw.storage.items import MessageRef, RequestItem
from smsgw.storage.messages import message_store
from smsgw.webhooks.events import campaign_of, event_id, queue_deliveries

CAMPAIGN_EVENTS = {
    "running": "campaign.started",
    "done": "campaign.finished",
    "cancelled": "campaign.cancelled",
}
# The campaign item's counters, as the campaign API names them.
CAMPAIGN_COUNTS = {f"n_{name}": name for name in ("submitted", "unknown", "rejected", "delivered", "failed")}
_FROM_DYNAMODB = TypeDeserializer()


def _images(record: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    dynamodb = record.get("dynamodb", {})
    return dynamodb.get("NewImage") or {}, dynamodb.get("OldImage") or {}


def _plain(image: dict[str, Any]) -> dict[str, Any]:
    return {name: _FROM_DYNAMODB.deserialize(value) for name, value in image.items()}


def closing_events(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """For each request that just closed: an event per message with no final status."""
    events = []
    for record in records:
        new, old = _images(record)
        if (
            new.get("pk", {}).get("S", "").startswith("req#")
            and "closed_at" in new
            and "closed_at" not in old
        ):
            events += _closed(RequestItem.from_item(_plain(new)))
    return events


def _closed(request: RequestItem) -> list[dict[str, Any]]:
    cls = classes().get(request.provider)
    if cls is None:
        return []
    keys = {number: number_keys(number) for number in request.numbers}
    news = message_store().statuses(
        [MessageRef(request.provider, request.key, k) for ks in keys.values() for k in ks]
    )
    status = request.closed_as or str(Status.UNKNOWN)
    events = []
    for number, nkeys in keys.items():
        found = next(
            (news[r] for r in (MessageRef(request.provider, request.key, k) for k in nkeys) if r in news),
            None,
        )
        if found is not None and found.status in FINAL:
            continue
        nkey = found.ref.nkey if found is not None else nkeys[0]
        message_id = f"{cls.id_prefix}-{request.key}-{nkey}"
        sequence = (found.seq if found is not None else 0) + 1
        data = {
            "message_id": message_id,
            "to": number,
            "status": status,
            "final": True,
            "provider": request.provider,
            "provider_status": request.closed_status,
            "submitted_at": request.submitted_at,
            "sequence": sequence,
        }
        if campaign := campaign_of(request):
            data["campaign_id"] = campaign
        events.append(
            {
                "id": event_id(message_id, sequence, status),
                "tenant": request.tenant,
                "callback": request.status_callback,
                "event": {"type": f"message.{status}", "timestamp": request.closed_at, "data": data},
            }
        )
    return events


def campaign_events(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    events = []
    for record in records:
        new, old = _images(record)
        state = new.get("state", {}).get("S", "")
        if new.get("sk", {}).get("S") != "CAMPAIGN" or state not in CAMPAIGN_EVENTS:
            continue
        if old.get("state", {}).get("S") == state:
            continue
        item = _plain(new)
        campaign_id = str(item["pk"]).removeprefix("campaign#")
        counts = {shown: int(item.get(kept, 0)) for kept, shown in CAMPAIGN_COUNTS.items()}
        kind = CAMPAIGN_EVENTS[state]
        events.append(
            {
                "id": event_id(campaign_id, 0, kind),
                "tenant": item.get("tenant"),
                "event": {
                    "type": kind,
                    "timestamp": str(item.get("updated_at") or item.get("created_at") or ""),
                    "data": {"campaign_id": campaign_id, "state": state, "counts": counts},
                },
            }
        )
    return events


def verification_event(tenant: str | None, status: str, verification_id: str, at: str) -> int:
    """`verification.approved` or `verification.expired`, told by the check that found it; how many
    deliveries were queued (none for a tenant without endpoints: one read, no queue write)."""
    kind = f"verification.{status}"
    event = {"type": kind, "timestamp": at, "data": {"verification_id": verification_id, "status": status}}
    return queue_deliveries([{"id": event_id(verification_id, 0, kind), "tenant": tenant, "event": event}])
