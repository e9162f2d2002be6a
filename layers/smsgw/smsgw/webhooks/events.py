"""Message events from the messages table's stream: each status change of a message after
`submitted` (a receipt, a polled status) becomes one event per endpoint of its tenant that wants it,
queued for the dispatcher. Nothing is added to the send or receipt path: the status write is the
event's source, and a repeated receipt writes nothing, so it makes no event.

An event's id follows from the message and the status item's `seq` (the count of its changes), so a
stream batch handed over again queues the same ids: the receiver's idempotency key holds.
"""

import hashlib
import json
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3

from smsgw.domain.numbers import number_keys
from smsgw.domain.statuses import FINAL, Status
from smsgw.platform.config import settings
from smsgw.platform.observability import count
from smsgw.providers.registry import classes
from smsgw.storage.items import RequestItem, request_pk
from smsgw.storage.messages import message_store
from smsgw.webhooks.endpoints import Endpoint, endpoints

NOTIFIED = frozenset({Status.SENDING, Status.DELIVERED, Status.FAILED, Status.UNKNOWN})
# A status written before its request is recorded (the receipt raced the send) waits for it this
# long: the batch is handed over again; past it, the status has no request to tell its tenant.
WAIT_FOR_REQUEST_SECONDS = 300
SENDS_AT_ONCE = 8
CAMPAIGN_ID_PREFIX = "cmp-"  # campaign ids, which a campaign's requests carry as their request id


class RequestNotYetRecorded(Exception):
    """A status item whose request is not recorded yet: the stream batch is retried whole."""


def event_id(message_id: str, sequence: int, status: str) -> str:
    return "evt_" + hashlib.sha256(f"{message_id}:{sequence}:{status}".encode()).hexdigest()[:32]


def message_events(records: Iterable[dict[str, Any]], now: float | None = None) -> list[dict[str, Any]]:
    """The events (with their tenant) of the status changes in a stream batch, in stream order."""
    now = time.time() if now is None else now
    changes = [c for c in map(_change, records) if c is not None]
    if not changes:
        return []
    wanted = {request_pk(c["provider"], c["key"]) for c in changes}
    found = message_store().requests(wanted)  # nosec B113 - the table's request items, not HTTP
    recorded = {r.pk: r for r in found}
    events = []
    for change in changes:
        request = recorded.get(request_pk(change["provider"], change["key"]))
        if request is None:
            if now - change["written"] < WAIT_FOR_REQUEST_SECONDS:
                raise RequestNotYetRecorded(change["key"])
            count("WebhookEventsWithoutRequest", 1, change["provider"])
            continue
        if (event := _event(change, request)) is not None:
            events.append(event)
    return events


def _change(record: dict[str, Any]) -> dict[str, Any] | None:
    dynamodb = record.get("dynamodb", {})
    new, old = dynamodb.get("NewImage") or {}, dynamodb.get("OldImage") or {}
    pk = new.get("pk", {}).get("S", "")
    status = new.get("status", {}).get("S", "")
    if not pk.startswith("num#") or status not in NOTIFIED or old.get("status", {}).get("S") == status:
        return None
    _, provider, nkey = pk.split("#", 2)
    return {
        "provider": provider,
        "nkey": nkey,
        "key": new["sk"]["S"],
        "status": status,
        "sequence": int(new.get("seq", {}).get("N", "1")),
        "provider_status": new.get("provider_status", {}).get("S"),
        "updated_at": new.get("updated_at", {}).get("S", ""),
        "delivered_at": new.get("delivered_at", {}).get("S"),
        "written": float(dynamodb.get("ApproximateCreationDateTime", time.time())),
    }


def _event(change: dict[str, Any], request: RequestItem) -> dict[str, Any] | None:
    number = next((n for n in request.numbers if change["nkey"] in number_keys(n)), None)
    cls = classes().get(change["provider"])
    if number is None or cls is None:
        return None
    message_id = f"{cls.id_prefix}-{change['key']}-{change['nkey']}"
    data = {
        "message_id": message_id,
        "to": number,
        "status": change["status"],
        "final": Status(change["status"]) in FINAL,
        "provider": change["provider"],
        "provider_status": change["provider_status"],
        "submitted_at": request.submitted_at,
        "sequence": change["sequence"],
    }
    if change["delivered_at"]:
        data["delivered_at"] = change["delivered_at"]
    if campaign := campaign_of(request):
        data["campaign_id"] = campaign
    return {
        "id": event_id(message_id, change["sequence"], change["status"]),
        "tenant": request.tenant,
        "callback": request.status_callback,
        "event": {"type": f"message.{change['status']}", "timestamp": change["updated_at"], "data": data},
    }


def campaign_of(request: RequestItem) -> str | None:
    """A campaign chunk's requests carry the campaign's id as their request id."""
    return request.request_id if (request.request_id or "").startswith(CAMPAIGN_ID_PREFIX) else None


def queue_deliveries(events: list[dict[str, Any]]) -> int:
    """One queued delivery per event and endpoint of its tenant that wants it, and one to the
    request's `status_callback` (signed with the tenant's first endpoint's secrets); how many."""
    wanted: dict[str | None, list[Endpoint]] = {}
    deliveries = []
    for event in events:
        tenant = event["tenant"]
        if tenant not in wanted:
            wanted[tenant] = sorted(endpoints().of_tenant(tenant), key=lambda e: e.created_at)
        for endpoint in wanted[tenant]:
            if endpoint.wants(event["event"]["type"]):
                deliveries.append(delivery(endpoint, event["id"], event["event"]))
        if event.get("callback") and wanted[tenant]:
            deliveries.append(delivery(wanted[tenant][0], event["id"], event["event"], url=event["callback"]))
    send_deliveries(deliveries)
    return len(deliveries)


def delivery(
    endpoint: Endpoint, event_id: str, event: dict[str, Any], url: str | None = None
) -> dict[str, Any]:
    """A queued delivery: to the endpoint, or (`url`, a send's status_callback) signed with its secrets."""
    queued = {
        "tenant": endpoint.tenant,
        "endpoint_id": endpoint.endpoint_id,
        "event_id": event_id,
        "event": event,
    }
    return queued | ({"url": url} if url else {})


def send_deliveries(deliveries: list[dict[str, Any]]) -> None:
    """Onto the delivery queue, ten to a request (SQS's most), up to SENDS_AT_ONCE requests side by
    side (a /recover of thousands); what the queue refuses is raised."""
    sqs, queue = _sqs(), settings().webhook_queue_url

    def send(batch: list[dict[str, Any]]) -> None:
        entries = [
            {"Id": str(i), "MessageBody": json.dumps(d, separators=(",", ":"))} for i, d in enumerate(batch)
        ]
        answer = sqs.send_message_batch(QueueUrl=queue, Entries=entries)
        if answer.get("Failed"):
            raise RuntimeError(f"the webhook queue refused {len(answer['Failed'])} deliveries")

    batches = [deliveries[start : start + 10] for start in range(0, len(deliveries), 10)]
    if len(batches) <= 1:
        for batch in batches:
            send(batch)
        return
    with ThreadPoolExecutor(max_workers=min(SENDS_AT_ONCE, len(batches))) as pool:
        list(pool.map(send, batches))


def _sqs() -> Any:
    return boto3.client("sqs")
