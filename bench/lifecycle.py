"""What 230sms messages cost in DynamoDB over their whole life, counted through the real handlers:
the send, a receipt for each, a status lookup, and the poller closing their requests at the end of
the receipt window."""

from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from boto3.dynamodb.types import TypeSerializer

from local_stack.events import status_event
from smsgw.delivery import polling
from smsgw.platform.config import settings
from smsgw.storage.messages import message_store

from .stack import Stack, body_of, cn_numbers, item_size, receipt_event, send_event


@dataclass
class Lifecycle:
    messages: int
    requests: int
    index_items_open: int  # items in the Pending index after the send
    send_writes: int
    send_units: int
    receipt_writes: int
    close_writes: int
    close_units: int  # a close rewrites its request item: billed at that item's size
    lookup_calls: dict[str, int]
    lookup_keys: int

    @property
    def writes_per_message(self) -> float:
        return (self.send_writes + self.receipt_writes + self.close_writes) / self.messages

    @property
    def units_per_message(self) -> float:
        return (self.send_units + self.receipt_writes + self.close_units) / self.messages

    def as_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "writes_per_message": self.writes_per_message,
            "units_per_message": self.units_per_message,
        }


def measure(stack: Stack, n: int = 2_000) -> Lifecycle:
    """In a fresh stack (its table holds only this send's items)."""
    numbers = cn_numbers(n, start=13600000000)
    stack.dynamodb.reset()
    answer = body_of(
        stack.invoke("send", send_event({"to": numbers, "content": "hi", "provider": "230sms"}, "bench-life"))
    )
    sent = stack.dynamodb.snapshot()
    messages = answer["messages"]
    table = message_store().table
    everything = table.scan()["Items"]  # a fresh stack: only this send's items
    indexed = [i for i in everything if "pending_shard" in i]  # what the sparse index holds
    open_items = [i for i in everything if str(i["pk"]).startswith("req#")]
    stack.dynamodb.reset()
    for message in messages:
        fields = {
            "apikey": stack.sms230.apikey,
            "taskid": message["message_id"].split("-")[1],
            "mobile": message["to"].lstrip("+"),
            "status": "DELIVRD",
            "times": "2026-11-23 17:42",
        }
        stack.invoke("callback", receipt_event(fields))
    receipts = stack.dynamodb.snapshot()
    stack.dynamodb.reset()
    lookup_event = status_event(messages[0]["message_id"])
    lookup_event["requestContext"]["identity"]["apiKeyId"] = "bench-life"  # the sender's own key (tenant)
    stack.invoke("message_status", lookup_event)
    lookup = stack.dynamodb.snapshot()
    stack.dynamodb.reset()
    polling.poll(datetime.now(UTC) + timedelta(hours=settings().receipt_window_hours + 1))
    closed = stack.dynamodb.snapshot()
    close_units = sum(-(-_plain_size(i) // 1024) for i in open_items)
    return Lifecycle(
        messages=len(messages),
        requests=len(open_items),
        index_items_open=len(indexed),
        send_writes=sent["written"],
        send_units=sent["put_units"],
        receipt_writes=receipts["written"],
        close_writes=closed["written"],
        close_units=close_units,
        lookup_calls=lookup["ops"],
        lookup_keys=2 * lookup["ops"].get("BatchGetItem", 0),
    )


def _plain_size(item: dict[str, Any]) -> int:
    """An item's size from its plain values (as the resource returns them), DynamoDB's way."""
    serializer = TypeSerializer()
    return item_size({k: serializer.serialize(v) for k, v in item.items()})
