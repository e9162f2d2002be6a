"""A campaign's `delivered` and `failed` counts, from the messages table's stream.

A receipt (or a polled status) is one write to a message's status item and reads nothing, so it
cannot know the message's campaign. The stream can: each status item that turns `delivered` or
`failed` (delivered and failed are never replaced) is added to its provider request's campaign.
The stream function reads each provider request once per container (which campaign, if any: kept
for the last REMEMBERED requests) and writes one transaction per batch of stream records. The
transaction carries a marker named after the batch's first and last records: a batch Lambda hands
over again after a failure is counted once.
"""

import functools
from collections import Counter, OrderedDict
from datetime import datetime, timedelta
from typing import Any

from smsgw.campaigns.model import CAMPAIGN, campaign_pk
from smsgw.domain.statuses import Status
from smsgw.platform.transactions import transact_write
from smsgw.storage.items import REQUEST, request_pk
from smsgw.storage.messages import message_store

COUNTED = (str(Status.DELIVERED), str(Status.FAILED))
REMEMBERED = 4096  # provider requests whose campaign a container keeps
MARKER_DAYS = 2  # longer than Lambda retries a stream batch
# A status naming a provider request not recorded: waited for this long (the sender records a chunk
# within a second of its provider call), then taken to be no campaign's.
WAIT_FOR_RECORD = timedelta(minutes=2)
CAMPAIGNS_PER_TRANSACTION = 99  # and the marker: DynamoDB's 100 items


class CampaignProgress:
    def __init__(self, table: Any) -> None:
        self.table = table
        self._campaign_of: OrderedDict[str, str | None] = OrderedDict()  # request pk -> campaign id

    def count(self, records: list[dict[str, Any]], now: datetime) -> dict[str, Counter[str]]:
        """Add a batch of stream records to their campaigns; what was added, by campaign. Raises
        NotRecordedYet while a fresh status names a provider request not recorded yet (a receipt
        may come before its request is written): Lambda hands the batch over again later."""
        changes: dict[str, Counter[str]] = {}
        newest: dict[str, datetime] = {}
        for record in records:
            change = _status_change(record)
            if change is not None:
                request, old, new, at = change
                delta = changes.setdefault(request, Counter())
                delta[new] += 1
                if old in COUNTED:  # cannot happen today; kept so that a change is never counted twice
                    delta[old] -= 1
                newest[request] = max(at, newest.get(request, at))
        campaigns = self._campaigns(list(changes))
        waiting = [pk for pk in changes if pk not in campaigns and now - newest[pk] < WAIT_FOR_RECORD]
        if waiting:
            raise NotRecordedYet(f"{len(waiting)} provider requests not recorded yet")
        totals: dict[str, Counter[str]] = {}
        for request, delta in changes.items():
            if campaign_id := campaigns.get(request):
                totals.setdefault(campaign_id, Counter()).update(delta)
        if totals:
            self._add(_batch_id(records), totals, now)
        return totals

    def _campaigns(self, requests: list[str]) -> dict[str, str | None]:
        """Which campaign each recorded provider request belongs to (None: not a campaign's); a
        request not recorded is left out."""
        unseen = [pk for pk in requests if pk not in self._campaign_of]
        for pk, request_id in self._read(unseen).items():
            self._campaign_of[pk] = request_id if request_id.startswith("cmp-") else None
        while len(self._campaign_of) > REMEMBERED:
            self._campaign_of.popitem(last=False)
        return {pk: self._campaign_of[pk] for pk in requests if pk in self._campaign_of}

    def _read(self, pks: list[str]) -> dict[str, str]:
        """request pk -> its request id, for the recorded ones (consistent: just written, perhaps)."""
        items = message_store().get_all([{"pk": pk, "sk": REQUEST} for pk in pks])
        return {str(item["pk"]): str(item.get("request_id", "")) for item in items}

    def _add(self, batch_id: str, totals: dict[str, Counter[str]], now: datetime) -> None:
        names = list(totals)
        for part, start in enumerate(range(0, len(names), CAMPAIGNS_PER_TRANSACTION)):
            marker = {
                "pk": f"progress#{batch_id}",
                "sk": str(part),
                "expires_at": int((now + timedelta(days=MARKER_DAYS)).timestamp()),
            }
            writes: list[dict[str, Any]] = [
                {
                    "Put": {
                        "TableName": self.table.name,
                        "Item": marker,
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                }
            ]
            writes += [
                {
                    "Update": {
                        "TableName": self.table.name,
                        "Key": {"pk": campaign_pk(campaign_id), "sk": CAMPAIGN},
                        "UpdateExpression": "ADD n_delivered :d, n_failed :f",
                        "ExpressionAttributeValues": {
                            ":d": totals[campaign_id][str(Status.DELIVERED)],
                            ":f": totals[campaign_id][str(Status.FAILED)],
                        },
                    }
                }
                for campaign_id in names[start : start + CAMPAIGNS_PER_TRANSACTION]
            ]
            try:
                transact_write(self.table.meta.client, writes)
            except self.table.meta.client.exceptions.TransactionCanceledException as error:
                reasons = [r.get("Code") for r in error.response.get("CancellationReasons", [])]
                if reasons[:1] != ["ConditionalCheckFailed"]:
                    raise
                # This batch was counted before (Lambda handed it over again): nothing to add.


def _status_change(record: dict[str, Any]) -> tuple[str, str, str, datetime] | None:
    """(request pk, old status, new status, when) of a status item turning delivered or failed."""
    image = record.get("dynamodb", {})
    keys = image.get("Keys", {})
    pk = keys.get("pk", {}).get("S", "")
    if not pk.startswith("num#"):
        return None
    new = image.get("NewImage", {}).get("status", {}).get("S")
    old = image.get("OldImage", {}).get("status", {}).get("S")
    if new not in COUNTED or new == old:
        return None
    provider = pk.split("#", 2)[1]
    at = datetime.fromisoformat(image["NewImage"].get("updated_at", {}).get("S", "1970-01-01T00:00:00+00:00"))
    return request_pk(provider, keys["sk"]["S"]), str(old), str(new), at


class NotRecordedYet(Exception):
    """A status came before its provider request was recorded: the batch is counted later."""


def _batch_id(records: list[dict[str, Any]]) -> str:
    return f"{records[0]['eventID']}-{records[-1]['eventID']}"


@functools.cache
def campaign_progress() -> CampaignProgress:
    return CampaignProgress(message_store().table)
