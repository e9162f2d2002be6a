"""A campaign's items in the messages table: the campaign (`campaign#<id>` / `CAMPAIGN`) with its
counters, and one intent marker per chunk beside it (`campaign#<id>` / `chunk#<n>`). Every DynamoDB
expression of a campaign is here."""

from collections.abc import Callable
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from smsgw.campaigns.model import CAMPAIGN, Chunk, campaign_pk
from smsgw.domain.statuses import CampaignState, Status
from smsgw.platform.errors import NotFound
from smsgw.platform.observability import logger
from smsgw.platform.transactions import transact_write
from smsgw.storage.items import now_iso
from smsgw.storage.messages import MessageStore, ProviderRequest, conditionally

TRANSACTION_ITEMS = 100  # DynamoDB's limit per TransactWriteItems

# A chunk that was sent: its provider requests to record, and how many numbers were certainly not sent.
SentChunk = tuple[Chunk, list[ProviderRequest], int]


class CampaignTable:
    def __init__(self, messages: MessageStore, now: Callable[[], datetime]) -> None:
        self.messages = messages
        self.table: Any = messages.table
        self.now = now

    def put(self, item: dict[str, Any]) -> None:
        """A new campaign, kept (its content too) as long as its messages: RETENTION_DAYS."""
        self.table.put_item(Item=item | {"expires_at": self.expires_at()})

    def expires_at(self) -> int:
        """When an item written now goes (DynamoDB's TTL): the retention of message records."""
        return int((self.now() + self.messages.retention).timestamp())

    def get(self, campaign_id: str) -> dict[str, Any] | None:
        if not campaign_id.startswith("cmp-") or len(campaign_id) > 40:
            return None
        found = self.table.get_item(Key=_key(campaign_id), ConsistentRead=True)
        item: dict[str, Any] | None = found.get("Item")
        return item

    def mine(self, campaign_id: str, tenant: str | None) -> dict[str, Any]:
        item = self.get(campaign_id)
        if item is None or item.get("tenant") != tenant:
            raise NotFound("no such campaign")
        return item

    def set_state(
        self,
        campaign_id: str,
        state: CampaignState,
        only_from: tuple[CampaignState, ...] = (),
        extra_condition: str = "",
        **extra: str,
    ) -> bool:
        """Move the campaign to `state` (from `only_from`, else from any state but an ended one)."""
        names = {"#s": "state"}
        values: dict[str, Any] = {":s": str(state)} | {f":{k}": v for k, v in extra.items()}
        update = "SET #s = :s" + "".join(f", {k} = :{k}" for k in extra)
        if only_from:
            condition = "#s IN (" + ", ".join(f":from{i}" for i in range(len(only_from))) + ")"
            values |= {f":from{i}": str(s) for i, s in enumerate(only_from)}
        else:
            condition = "NOT #s IN (:done, :cancelled)"
            values |= {":done": str(CampaignState.DONE), ":cancelled": str(CampaignState.CANCELLED)}
        if extra_condition:
            condition = f"{extra_condition} AND {condition}"
        return conditionally(
            self.table.update_item,
            Key=_key(campaign_id),
            UpdateExpression=update,
            ConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def set_totals(
        self, campaign_id: str, *, total: int, invalid: int, blocked: int, queued: int, chunks: int
    ) -> None:
        """The planner's counts, set (not added: a plan may run twice). Written last: until then no
        sender can close the campaign."""
        self.table.update_item(
            Key=_key(campaign_id),
            UpdateExpression="SET n_total = :t, n_invalid = :i, n_blocked = :b, n_queued = :q,"
            " chunks_total = :c",
            ExpressionAttributeValues={":t": total, ":i": invalid, ":b": blocked, ":q": queued, ":c": chunks},
        )

    def close_if_done(self, campaign_id: str) -> None:
        """Done once every chunk of a fully read list is done (a condition on the counters)."""
        closed = self.set_state(
            campaign_id,
            CampaignState.DONE,
            only_from=(CampaignState.RUNNING, CampaignState.PAUSED),
            extra_condition="attribute_exists(chunks_total) AND chunks_done >= chunks_total",
            finished_at=now_iso(self.now()),
        )
        if closed:
            logger.info("campaign done", extra={"campaign_id": campaign_id})

    def intend(self, chunks: list[Chunk]) -> list[str]:
        """Each chunk's intent marker, written only if absent and while its campaign is not cancelled,
        all in one transaction: per chunk "begun", "again" (its marker was there) or "cancelled".
        A transaction is all or nothing: one refused item leaves the others to be tried again."""
        name = self.table.name
        found: dict[Chunk, str] = {}
        while todo := [c for c in chunks if c not in found]:
            campaign_ids = list(dict.fromkeys(c.campaign_id for c in todo))
            started, expires = now_iso(self.now()), self.expires_at()
            markers = [
                {
                    "Put": {
                        "TableName": name,
                        "Item": {"pk": campaign_pk(c.campaign_id), "sk": c.sk, "state": "sending"}
                        | {"started_at": started, "expires_at": expires},
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                }
                for c in todo
            ]
            checks = [
                {
                    "ConditionCheck": {
                        "TableName": name,
                        "Key": _key(campaign_id),
                        "ConditionExpression": "#s <> :cancelled",
                        "ExpressionAttributeNames": {"#s": "state"},
                        "ExpressionAttributeValues": {":cancelled": str(CampaignState.CANCELLED)},
                    }
                }
                for campaign_id in campaign_ids
            ]
            try:
                transact_write(self.table.meta.client, markers + checks)
            except ClientError as error:
                if error.response["Error"]["Code"] != "TransactionCanceledException":
                    raise
                reasons = [r.get("Code") for r in error.response.get("CancellationReasons", [])]
                refused = {i for i, code in enumerate(reasons) if code == "ConditionalCheckFailed"}
                if not refused:
                    raise
                cancelled = {campaign_ids[i - len(todo)] for i in refused if i >= len(todo)}
                for i, chunk in enumerate(todo):
                    if chunk.campaign_id in cancelled:
                        found[chunk] = "cancelled"
                    elif i in refused:
                        found[chunk] = "again"
                continue
            found |= dict.fromkeys(todo, "begun")
        return [found[c] for c in chunks]

    def marker(self, chunk: Chunk) -> dict[str, Any]:
        item: dict[str, Any] = self.table.get_item(
            Key={"pk": campaign_pk(chunk.campaign_id), "sk": chunk.sk}, ConsistentRead=True
        )["Item"]
        return item

    def finish(self, sent: list[SentChunk]) -> None:
        """Record the chunks' provider requests, mark them done and count them on their campaigns, in
        one transaction (more only past DynamoDB's 100 items); then the last chunk closes its
        campaign (a condition on the counters just added)."""
        if not sent:
            return
        now = self.now()
        name = self.table.name
        for group in transactions(sent):
            writes: list[dict[str, Any]] = []
            totals: dict[str, dict[str, int]] = {}
            for chunk, requests, refused in group:
                writes += [
                    {"Put": {"TableName": name, "Item": self.messages.request_item(r, now)}} for r in requests
                ]
                writes.append(
                    {
                        "Update": {
                            "TableName": name,
                            "Key": {"pk": campaign_pk(chunk.campaign_id), "sk": chunk.sk},
                            "UpdateExpression": "SET #s = :done, finished_at = :now",
                            "ExpressionAttributeNames": {"#s": "state"},
                            "ExpressionAttributeValues": {":done": "done", ":now": now_iso(now)},
                        }
                    }
                )
                total = totals.setdefault(chunk.campaign_id, dict.fromkeys(COUNTERS.values(), 0))
                for counter, value in chunk_counts(requests, refused).items():
                    total[COUNTERS[counter]] += value
            writes += [
                {
                    "Update": {
                        "TableName": name,
                        "Key": _key(campaign_id),
                        "UpdateExpression": "ADD " + ", ".join(f"{c} {v}" for c, v in COUNTERS.items()),
                        "ExpressionAttributeValues": total,
                    }
                }
                for campaign_id, total in totals.items()
            ]
            transact_write(self.table.meta.client, writes)
        for campaign_id in dict.fromkeys(chunk.campaign_id for chunk, _, _ in sent):
            self.close_if_done(campaign_id)


# The campaign's counters a chunk adds to, and their placeholders.
COUNTERS = {
    "n_submitted": ":s",
    "n_unknown": ":u",
    "n_rejected": ":r",
    "chunks_done": ":c",
    "provider_requests": ":p",
}


def chunk_counts(requests: list[ProviderRequest], refused: int) -> dict[str, int]:
    """What one chunk adds to its campaign's counters."""
    submitted = [r for r in requests if r.status is Status.SUBMITTED]
    return {
        "n_submitted": sum(len(r.numbers) - r.dropped for r in submitted),
        "n_unknown": sum(len(r.numbers) for r in requests if r.status is Status.UNKNOWN),
        "n_rejected": refused + sum(r.dropped for r in submitted),
        "chunks_done": 1,
        "provider_requests": sum(1 for r in requests if r.status is not Status.UNKNOWN),
    }


def transactions(sent: list[SentChunk]) -> list[list[SentChunk]]:
    """The chunks grouped so that each group (its requests, markers and one counter update per
    campaign) fits one transaction; a chunk is never split."""
    groups: list[list[SentChunk]] = [[]]
    size = 0
    for entry in sent:
        need = len(entry[1]) + 2  # its requests, its marker, perhaps its campaign's counters
        if groups[-1] and size + need > TRANSACTION_ITEMS:
            groups.append([])
            size = 0
        groups[-1].append(entry)
        size += need
    return groups


def _key(campaign_id: str) -> dict[str, str]:
    return {"pk": campaign_pk(campaign_id), "sk": CAMPAIGN}
