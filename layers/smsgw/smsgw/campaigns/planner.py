"""The planner (one message of the plan queue per campaign): read the list, count what cannot be
sent, and enqueue the rest in chunks at the provider's cap as the list is read, so the senders start
on the first chunks while the rest is still being read."""

import csv
import functools
import io
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import boto3

from smsgw.campaigns.lists import READ_LINES, all_plain, read_entries
from smsgw.campaigns.model import invalid_key, upload_key
from smsgw.campaigns.table import CampaignTable
from smsgw.domain.numbers import CHINA, mask
from smsgw.domain.statuses import CampaignState
from smsgw.guards.blocklist import blocklist
from smsgw.platform.config import Settings, settings
from smsgw.platform.observability import logger
from smsgw.providers.registry import batch_size, order
from smsgw.storage.messages import message_store

SQS_BATCH = 10  # chunks per SendMessageBatch, SQS's limit


class Planner:
    def __init__(self, config: Settings, table: CampaignTable, s3: Any, sqs: Any) -> None:
        self.config, self.table, self.s3, self.sqs = config, table, s3, sqs

    def plan(self, campaign_id: str) -> dict[str, int]:
        """Safe to run twice (SQS may deliver twice): the counts are set, not added, and a chunk
        enqueued again finds its marker."""
        item = self.table.get(campaign_id)
        if item is None or item["state"] in (
            CampaignState.CANCELLED,
            CampaignState.DONE,
            CampaignState.DRAFT,
        ):
            return {"chunks": 0}
        if item["state"] == CampaignState.SCHEDULED:
            self.table.set_state(campaign_id, CampaignState.RUNNING, only_from=(CampaignState.SCHEDULED,))
        bucket = self.config.campaign_bucket
        # The list named when it started; a campaign an earlier release started reads its upload key.
        listed = str(item.get("list_object") or upload_key(campaign_id))
        body = self.s3.get_object(Bucket=bucket, Key=listed)["Body"].read()
        allowed = self.config.allowed_countries
        cap = batch_size(item.get("provider") or order()[0])  # from settings: the planner reads no secret
        enqueue = Enqueuer(
            self.sqs,
            self.config.campaign_queue_url,
            campaign_id,
            cap,
            blocklist().checker(item.get("tenant")),
        )
        seen: set[str] = set()  # E.164
        invalid: list[tuple[int, str, str]] = []
        total = 0
        most = self.config.campaign_max_recipients
        lines = body.decode("utf-8", errors="replace").splitlines()
        for start in range(0, len(lines), READ_LINES):
            block = lines[start : start + READ_LINES]
            plain = all_plain(block) if CHINA in allowed else None
            fresh = [e for e in dict.fromkeys(plain) if e not in seen] if plain is not None else []
            if plain is not None and len(seen) + len(fresh) <= most:  # nearly every block of a list
                total += len(plain)
                seen.update(fresh)
                enqueue.add(fresh)
                continue
            header = item.get("source") == "upload" and start == 0
            for line_no, entry, recipient, reason in read_entries(block, allowed, header, first=start + 1):
                total += 1
                if recipient is None:
                    invalid.append((line_no, mask(entry), reason))
                elif (e164 := recipient.e164) not in seen and len(seen) < most:
                    seen.add(e164)
                    enqueue.add([e164])
                elif e164 not in seen:
                    invalid.append((line_no, mask(entry), f"over the campaign maximum of {most}"))
        enqueue.flush()
        if invalid:
            report = io.StringIO()
            writer = csv.writer(report)
            writer.writerow(["line", "entry", "reason"])
            writer.writerows(invalid)
            self.s3.put_object(
                Bucket=bucket,
                Key=invalid_key(campaign_id),
                Body=report.getvalue().encode(),
                ContentType="text/csv",
            )
        self.table.set_totals(
            campaign_id,
            total=total,
            invalid=len(invalid),
            blocked=enqueue.blocked,
            queued=enqueue.queued,
            chunks=enqueue.chunks,
        )
        self.table.close_if_done(campaign_id)  # every chunk may have been sent before the list was read
        logger.info(
            "campaign planned",
            extra={"campaign_id": campaign_id, "chunks": enqueue.chunks, "invalid": len(invalid)},
        )
        return {
            "chunks": enqueue.chunks,
            "queued": enqueue.queued,
            "invalid": len(invalid),
            "blocked": enqueue.blocked,
        }


class Enqueuer:
    """The planner's output: numbers gathered SQS_BATCH chunks at a time, checked against the
    blocklist, cut at the provider's cap and sent to the chunk queue in one SendMessageBatch."""

    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        campaign_id: str,
        cap: int,
        blocked_among: Callable[[list[str]], set[str]],
    ) -> None:
        self.sqs, self.queue_url, self.campaign_id, self.cap = sqs, queue_url, campaign_id, cap
        self.blocked_among = blocked_among
        self.pending: list[str] = []  # E.164
        self.chunks = self.queued = self.blocked = 0

    def add(self, numbers: list[str]) -> None:
        self.pending += numbers
        batch = self.cap * SQS_BATCH
        while len(self.pending) >= batch:
            part, self.pending = self.pending[:batch], self.pending[batch:]
            self._send(part)

    def flush(self) -> None:
        part, self.pending = self.pending, []
        if part:
            self._send(part)

    def _send(self, part: list[str]) -> None:
        stopped = self.blocked_among(part)
        sendable = [r for r in part if r not in stopped] if stopped else part
        self.blocked += len(stopped)
        self.queued += len(sendable)
        entries = [
            {
                "Id": str(i),
                "MessageBody": json.dumps(
                    {
                        "campaign_id": self.campaign_id,
                        "chunk": self.chunks + i,
                        "numbers": sendable[start : start + self.cap],
                    }
                ),
            }
            for i, start in enumerate(range(0, len(sendable), self.cap))
        ]
        if not entries:
            return
        answer = self.sqs.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
        if answer.get("Failed"):
            raise RuntimeError(f"SQS refused {len(answer['Failed'])} chunks of {self.campaign_id}")  # retried
        self.chunks += len(entries)


@functools.cache
def planner() -> Planner:
    table = CampaignTable(message_store(), lambda: datetime.now(UTC))
    return Planner(settings(), table, boto3.client("s3"), boto3.client("sqs"))


def plan_record(record: Any) -> None:
    """One message of the plan queue: {"campaign_id"} (from `start`, or the schedule at send_at)."""
    planner().plan(str(json.loads(record.body)["campaign_id"]))
