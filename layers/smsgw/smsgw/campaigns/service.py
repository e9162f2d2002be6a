"""Campaigns: a list of numbers (inline, or a file uploaded to S3) sent in chunks through SQS.

create -> (upload) -> start -> plan (validate, de-duplicate, blocklist, cut at the provider's cap,
enqueue as the list is read) -> send_chunks per batch of SQS messages -> done. The campaign is one
item in the messages table (`campaign#<id>` / `CAMPAIGN`) with its counters; each chunk has an
intent marker beside it (`campaign#<id>` / `chunk#<n>`) written before its provider call, so a
redelivered chunk is never sent twice: a chunk whose marker says it began but never finished reads
`unknown`. Delivered and failed are counted from the table's stream (campaign_progress.py).
"""

import contextlib
import contextvars
import csv
import functools
import io
import json
import os
import re
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import boto3
from botocore.exceptions import ClientError

from smsgw.domain.content import count_segments, validate_content
from smsgw.domain.numbers import CHINA, Recipient, mask, parse_number, trusted_e164
from smsgw.domain.statuses import CAMPAIGN_COUNTS, CampaignKind, CampaignState, Kind, Status
from smsgw.guards.blocklist import blocklist
from smsgw.platform.config import ConfigError, settings
from smsgw.platform.errors import FieldError, NotFound, NothingSent, ValidationError, WrongState
from smsgw.platform.observability import count, logger
from smsgw.platform.transactions import transact_write
from smsgw.providers.registry import classes, names, order, provider
from smsgw.sending.request import SendRequest, _options, options
from smsgw.storage.messages import ProviderRequest, conditionally, message_store, now_iso, unknown_request_key

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

BEIJING = timedelta(hours=8)
CAMPAIGN = "CAMPAIGN"
FIELDS = {"content", "kind", "provider", "send_at", "to"}
TEXT_TYPES = ("text/plain", "text/csv")
SAMPLE_BYTES = 64 * 1024  # what `start` reads of an upload to tell numbers from anything else
SQS_BATCH = 10


@dataclass(frozen=True)
class CampaignSettings:
    bucket: str
    queue_url: str  # chunks, consumed by the sender
    plan_queue_url: str  # campaigns to plan, consumed by the planner
    plan_queue_arn: str  # EventBridge Scheduler's target for `send_at`
    scheduler_role_arn: str
    schedule_group: str
    max_recipients: int = 1_000_000
    max_upload_bytes: int = 32 * 1024 * 1024
    window: tuple[int, int] = (8 * 60, 21 * 60)  # minutes of the Beijing day: [open, close)

    @classmethod
    def from_env(cls) -> "CampaignSettings":
        env = os.environ
        try:
            opening, closing = (
                _minutes(part) for part in env.get("MARKETING_WINDOW", "08:00-21:00").split("-")
            )
            return cls(
                bucket=env.get("CAMPAIGN_BUCKET", ""),
                queue_url=env.get("CAMPAIGN_QUEUE_URL", ""),
                plan_queue_url=env.get("CAMPAIGN_PLAN_QUEUE_URL", ""),
                plan_queue_arn=env.get("CAMPAIGN_PLAN_QUEUE_ARN", ""),
                scheduler_role_arn=env.get("CAMPAIGN_SCHEDULER_ROLE_ARN", ""),
                schedule_group=env.get("CAMPAIGN_SCHEDULE_GROUP", "default"),
                max_recipients=int(env.get("CAMPAIGN_MAX_RECIPIENTS", "1000000")),
                max_upload_bytes=int(env.get("CAMPAIGN_MAX_UPLOAD_BYTES", str(32 * 1024 * 1024))),
                window=(opening, closing),
            )
        except ValueError:
            raise ConfigError(
                "MARKETING_WINDOW is HH:MM-HH:MM; CAMPAIGN_MAX_RECIPIENTS and _MAX_UPLOAD_BYTES are numbers"
            ) from None


def _minutes(text: str) -> int:
    hours, minutes = text.strip().split(":")
    value = int(hours) * 60 + int(minutes)
    if not 0 <= value <= 24 * 60:
        raise ValueError(text)
    return value


def closed_for(now: datetime, window: tuple[int, int]) -> float:
    """Seconds until the marketing window (Beijing time) next opens; 0 inside it."""
    local = now.astimezone(UTC) + BEIJING
    minute = local.hour * 60 + local.minute + local.second / 60 + local.microsecond / 60e6
    opening, closing = window
    if opening <= minute < closing:
        return 0.0
    wait = (opening - minute) % (24 * 60)
    return wait * 60


# -- the request ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CampaignSpec:
    content: str
    kind: CampaignKind
    provider: str | None
    options: dict[str, str]
    send_at: datetime | None
    to: list[Any] | None  # inline entries, validated one by one at planning

    @classmethod
    def parse(cls, body: Any, max_inline: int) -> "CampaignSpec":
        if not isinstance(body, dict):
            raise ValidationError.single("body", "must be a JSON object")
        known = options()
        errors = [FieldError(k[:64], "unknown field") for k in body if k not in FIELDS and k not in known]
        kind = body.get("kind")
        if kind not in list(CampaignKind):
            errors.append(FieldError("kind", "must be marketing or notification"))
        name = body.get("provider")
        named = None
        if name is not None:
            if name in names():
                named = classes()[name]
            else:
                errors.append(FieldError("provider", f"must be one of {', '.join(names())}"))
        chosen = _options(body, named, errors)
        content = ""
        try:
            content = validate_content(body.get("content"), max_segments=settings().max_segments)
        except ValidationError as error:
            errors.extend(error.errors)
        send_at = None
        if (raw := body.get("send_at")) is not None:
            try:
                send_at = datetime.fromisoformat(raw) if isinstance(raw, str) else None
            except ValueError:
                send_at = None
            if send_at is None or send_at.tzinfo is None:
                errors.append(FieldError("send_at", "must be an ISO-8601 time with its offset"))
        to = body.get("to")
        if to is not None and (not isinstance(to, list) or not to):
            errors.append(
                FieldError("to", "must be a non-empty list of phone numbers (or leave it out and upload)")
            )
        elif to is not None and len(to) > max_inline:
            errors.append(FieldError("to", f"at most {max_inline} inline; upload a file for more"))
        if errors:
            raise ValidationError(errors)
        return cls(content, CampaignKind(str(kind)), name, chosen, send_at, to)


# -- the service ----------------------------------------------------------------------------------

CHUNK_VIEW_SECONDS = 1.0  # how old a sender's view of its campaign's state may be
# Longer than a sender invocation can last (the template's Timeout, 60 s): an intent marker older
# than this, still not done, was left by a sender that died.
IN_FLIGHT_SECONDS = 90.0


class Campaigns:
    def __init__(self, config: CampaignSettings, clock: Any = time.time) -> None:
        self.config = config
        self.clock = clock
        self.table = message_store().table
        self.s3: Any = boto3.client("s3")
        self.sqs: Any = boto3.client("sqs")
        self._seen: dict[str, tuple[float, dict[str, Any]]] = {}  # see _campaign_for_chunk

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    # -- API ---------------------------------------------------------------------------------------

    def create(self, spec: CampaignSpec, tenant: str | None, request_id: str) -> dict[str, Any]:
        campaign_id = f"cmp-{uuid.uuid4().hex[:20]}"
        item: dict[str, Any] = {
            "pk": _pk(campaign_id),
            "sk": CAMPAIGN,
            "state": str(CampaignState.DRAFT),
            "kind": str(spec.kind),
            "content": spec.content,
            "options": spec.options,
            "created_at": now_iso(self.now()),
            "request_id": request_id,
            "source": "upload" if spec.to is None else "inline",
            "chunks_done": 0,  # chunks_total is written once the whole list is read
            "provider_requests": 0,
            **{f"n_{name}": 0 for name in CAMPAIGN_COUNTS},
        }
        item |= {k: v for k, v in (("tenant", tenant), ("provider", spec.provider)) if v is not None}
        if spec.send_at:
            item["send_at"] = now_iso(spec.send_at.astimezone(UTC))
        self.table.put_item(Item=item)
        if spec.to is None:
            url = self.s3.generate_presigned_url(
                "put_object",
                Params={"Bucket": self.config.bucket, "Key": _list_key(campaign_id)},
                ExpiresIn=3600,
            )
            return {"campaign_id": campaign_id, "state": str(CampaignState.DRAFT), "upload_url": url}
        lines = "\n".join(str(entry) if isinstance(entry, str | int) else "" for entry in spec.to)
        self.s3.put_object(
            Bucket=self.config.bucket,
            Key=_list_key(campaign_id),
            Body=lines.encode(),
            ContentType="text/plain",
        )
        return self.start(campaign_id, tenant, checked=True)

    def start(self, campaign_id: str, tenant: str | None, checked: bool = False) -> dict[str, Any]:
        item = self._mine(campaign_id, tenant)
        if item["state"] != CampaignState.DRAFT:
            raise WrongState(f"the campaign is {item['state']}: only a draft can start")
        if not checked:
            self._check_upload(campaign_id)
        send_at = datetime.fromisoformat(item["send_at"]) if "send_at" in item else None
        later = send_at is not None and send_at > self.now()
        state = CampaignState.SCHEDULED if later else CampaignState.RUNNING
        started = conditionally(
            self.table.update_item,
            Key={"pk": _pk(campaign_id), "sk": CAMPAIGN},
            UpdateExpression="SET #s = :s, started_at = :now",
            ConditionExpression="#s = :draft",
            ExpressionAttributeNames={"#s": "state"},
            ExpressionAttributeValues={
                ":s": str(state),
                ":draft": str(CampaignState.DRAFT),
                ":now": now_iso(self.now()),
            },
        )
        if not started:
            raise WrongState("the campaign has already started")
        message = json.dumps({"campaign_id": campaign_id})
        if later and send_at is not None:
            boto3.client("scheduler").create_schedule(
                Name=campaign_id,
                GroupName=self.config.schedule_group,
                ScheduleExpression=f"at({send_at.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%S')})",
                ScheduleExpressionTimezone="UTC",
                FlexibleTimeWindow={"Mode": "OFF"},
                ActionAfterCompletion="DELETE",
                Target={
                    "Arn": self.config.plan_queue_arn,
                    "RoleArn": self.config.scheduler_role_arn,
                    "Input": message,
                },
            )
        else:
            self.sqs.send_message(QueueUrl=self.config.plan_queue_url, MessageBody=message)
        return {"campaign_id": campaign_id, "state": str(state)}

    def _check_upload(self, campaign_id: str) -> None:
        """A bad upload gets a clear error and starts nothing: missing, empty, too large, not text,
        or no number in its first lines."""
        try:
            head = self.s3.head_object(Bucket=self.config.bucket, Key=_list_key(campaign_id))
        except ClientError:
            raise ValidationError.single(
                "upload", "no list uploaded yet: PUT it to the campaign's upload_url"
            ) from None
        size = int(head["ContentLength"])
        content_type = str(head.get("ContentType", "")).split(";")[0].strip().lower()
        if size == 0:
            raise ValidationError.single("upload", "the list is empty")
        if size > self.config.max_upload_bytes:
            raise ValidationError.single(
                "upload", f"the list is {size} bytes; at most {self.config.max_upload_bytes}"
            )
        if content_type not in TEXT_TYPES:
            raise ValidationError.single(
                "upload", f"content type must be text/plain or text/csv, not {content_type or 'none'}"
            )
        sample = self.s3.get_object(
            Bucket=self.config.bucket, Key=_list_key(campaign_id), Range=f"bytes=0-{SAMPLE_BYTES - 1}"
        )["Body"].read()
        lines = sample.decode("utf-8", errors="replace").splitlines()[:-1] or [
            sample.decode("utf-8", "replace")
        ]
        if not any(_number_or_none(entry) for _, entry in _entries(lines)):
            raise ValidationError.single("upload", "no phone number among the list's first lines")

    def view(self, campaign_id: str, tenant: str | None) -> dict[str, Any]:
        item = self._mine(campaign_id, tenant)
        answer: dict[str, Any] = {
            "campaign_id": campaign_id,
            "state": item["state"],
            "kind": item["kind"],
            "counts": {name: int(item.get(f"n_{name}", 0)) for name in CAMPAIGN_COUNTS},
            "provider_requests": int(item.get("provider_requests", 0)),
            "chunks": {"total": int(item.get("chunks_total", 0)), "done": int(item.get("chunks_done", 0))},
        }
        for name in ("provider", "send_at", "created_at", "started_at", "finished_at"):
            if name in item:
                answer[name] = item[name]
        if (estimate := _estimate(item, self.now())) is not None:
            answer["estimated_finish_at"] = estimate
        if int(item.get("n_invalid", 0)):
            answer["invalid_url"] = self.s3.generate_presigned_url(
                "get_object",
                Params={"Bucket": self.config.bucket, "Key": _invalid_key(campaign_id)},
                ExpiresIn=3600,
            )
        return answer

    def cancel(self, campaign_id: str, tenant: str | None) -> dict[str, Any]:
        item = self._mine(campaign_id, tenant)
        if item["state"] in (CampaignState.DONE, CampaignState.CANCELLED):
            raise WrongState(f"the campaign is already {item['state']}")
        self._set_state(campaign_id, CampaignState.CANCELLED, finished_at=now_iso(self.now()))
        if item["state"] == CampaignState.SCHEDULED:
            try:
                boto3.client("scheduler").delete_schedule(
                    Name=campaign_id, GroupName=self.config.schedule_group
                )
            except ClientError:
                logger.info("schedule already gone", extra={"campaign_id": campaign_id})
        return {"campaign_id": campaign_id, "state": str(CampaignState.CANCELLED)}

    def _mine(self, campaign_id: str, tenant: str | None) -> dict[str, Any]:
        item = self._campaign(campaign_id)
        if item is None or item.get("tenant") != tenant:
            raise NotFound("no such campaign")
        return item

    def _campaign(self, campaign_id: str) -> dict[str, Any] | None:
        if not campaign_id.startswith("cmp-") or len(campaign_id) > 40:
            return None
        found = self.table.get_item(Key={"pk": _pk(campaign_id), "sk": CAMPAIGN}, ConsistentRead=True)
        item: dict[str, Any] | None = found.get("Item")
        return item

    def _set_state(
        self,
        campaign_id: str,
        state: CampaignState,
        only_from: tuple[CampaignState, ...] = (),
        extra_condition: str = "",
        **extra: str,
    ) -> bool:
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
            Key={"pk": _pk(campaign_id), "sk": CAMPAIGN},
            UpdateExpression=update,
            ConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    # -- the planner -------------------------------------------------------------------------------

    def plan(self, campaign_id: str) -> dict[str, int]:
        """Read the list, count what cannot be sent, and enqueue the rest in chunks at the provider's
        cap as the list is read: the senders start on the first chunks while the rest is still being
        read. Safe to run twice (SQS may deliver twice): the counts are set, not added, and a chunk
        enqueued again finds its marker."""
        item = self._campaign(campaign_id)
        if item is None or item["state"] in (
            CampaignState.CANCELLED,
            CampaignState.DONE,
            CampaignState.DRAFT,
        ):
            return {"chunks": 0}
        if item["state"] == CampaignState.SCHEDULED:
            self._set_state(campaign_id, CampaignState.RUNNING, only_from=(CampaignState.SCHEDULED,))
        body = self.s3.get_object(Bucket=self.config.bucket, Key=_list_key(campaign_id))["Body"].read()
        text = body.decode("utf-8", errors="replace")
        allowed = settings().allowed_countries
        cap = provider(item.get("provider") or order()[0]).batch_size
        enqueue = _Enqueuer(
            self.sqs, self.config.queue_url, campaign_id, cap, blocklist().checker(item.get("tenant"))
        )
        seen: set[str] = set()  # E.164
        invalid: list[tuple[int, str, str]] = []
        total = 0
        most = self.config.max_recipients
        lines = text.splitlines()
        for start in range(0, len(lines), READ_LINES):
            block = lines[start : start + READ_LINES]
            plain = _all_plain(block) if CHINA in allowed else None
            fresh = [e for e in dict.fromkeys(plain) if e not in seen] if plain is not None else []
            if plain is not None and len(seen) + len(fresh) <= most:  # nearly every block of a list
                total += len(plain)
                seen.update(fresh)
                enqueue.add(fresh)
                continue
            header = item.get("source") == "upload" and start == 0
            for line_no, entry, recipient, reason in _read(block, allowed, header, first=start + 1):
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
                Bucket=self.config.bucket,
                Key=_invalid_key(campaign_id),
                Body=report.getvalue().encode(),
                ContentType="text/csv",
            )
        # The total is written last: until then no sender can close the campaign (see _finish).
        self.table.update_item(
            Key={"pk": _pk(campaign_id), "sk": CAMPAIGN},
            UpdateExpression="SET n_total = :t, n_invalid = :i, n_blocked = :b, n_queued = :q,"
            " chunks_total = :c",
            ExpressionAttributeValues={
                ":t": total,
                ":i": len(invalid),
                ":b": enqueue.blocked,
                ":q": enqueue.queued,
                ":c": enqueue.chunks,
            },
        )
        self._close_if_done(campaign_id)  # every chunk may have been sent before the list was read
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

    def _close_if_done(self, campaign_id: str) -> None:
        """Done once every chunk of a fully read list is done (a condition on the counters)."""
        closed = self._set_state(
            campaign_id,
            CampaignState.DONE,
            only_from=(CampaignState.RUNNING, CampaignState.PAUSED),
            extra_condition="attribute_exists(chunks_total) AND chunks_done >= chunks_total",
            finished_at=now_iso(self.now()),
        )
        if closed:
            logger.info("campaign done", extra={"campaign_id": campaign_id})

    # -- the sender --------------------------------------------------------------------------------

    def send_chunks(self, chunks: list["Chunk"]) -> dict["Chunk", "str | Exception"]:
        """One invocation's chunks: begun together (one transaction of intent markers), sent
        concurrently at the account's shared rate, recorded together (one transaction). Each chunk
        ends "sent", "duplicate", "unknown" or "cancelled", or waits (Paused outside a marketing
        window, StillSending while another sender may hold it): its message comes back later."""
        ended: dict[Chunk, str | Exception] = {}
        firsts: dict[tuple[str, int], Chunk] = {}
        for chunk in chunks:  # SQS may put two copies of one message in a batch: one goes
            if firsts.setdefault((chunk.campaign_id, chunk.index), chunk) is not chunk:
                ended[chunk] = "duplicate"
        ready: list[tuple[Chunk, dict[str, Any]]] = []
        for campaign_id, mine in _by_campaign(list(firsts.values())).items():
            item = self._campaign_for_chunk(campaign_id)
            if item is None or item["state"] == CampaignState.CANCELLED:
                ended |= dict.fromkeys(mine, "cancelled")
                continue
            if item["kind"] == CampaignKind.MARKETING and (
                wait := closed_for(self.now(), self.config.window)
            ):
                if self._set_state(campaign_id, CampaignState.PAUSED, only_from=(CampaignState.RUNNING,)):
                    logger.info("campaign paused for the night", extra={"campaign_id": campaign_id})
                ended |= dict.fromkeys(mine, Paused(wait))
                continue
            if item["state"] == CampaignState.PAUSED:
                self._set_state(campaign_id, CampaignState.RUNNING, only_from=(CampaignState.PAUSED,))
            ready += [(chunk, item) for chunk in mine]
        begun: list[tuple[Chunk, dict[str, Any]]] = []
        for (chunk, item), intent in zip(ready, self._intend([c for c, _ in ready]), strict=True):
            if intent == "begun":
                begun.append((chunk, item))
            elif intent == "again":
                ended[chunk] = self._redelivered(item, chunk)
            else:
                ended[chunk] = intent
        sent, broke = self._dispatch_all(begun)
        self._finish(sent)
        return ended | broke | dict.fromkeys((chunk for chunk, _, _ in sent), "sent")

    def _campaign_for_chunk(self, campaign_id: str) -> dict[str, Any] | None:
        """The campaign as its sender needs it, read at most once a CHUNK_VIEW_SECONDS per container:
        its content, kind and provider never change; its state may be that old (a cancel is still
        enforced exactly, by the intent's condition)."""
        now = self.clock()
        seen = self._seen.get(campaign_id)
        if seen is not None and 0 <= now - seen[0] < CHUNK_VIEW_SECONDS:
            return seen[1]
        item = self._campaign(campaign_id)
        if item is not None:
            if len(self._seen) >= 64:  # a container serves few campaigns at once
                self._seen.clear()
            self._seen[campaign_id] = (now, item)
        return item

    def _intend(self, chunks: list["Chunk"]) -> list[str]:
        """Each chunk's intent marker, written only if absent and while its campaign is not cancelled,
        all in one transaction: per chunk "begun", "again" (its marker was there) or "cancelled".
        A transaction is all or nothing: one refused item leaves the others to be tried again."""
        name = self.table.name
        found: dict[Chunk, str] = {}
        while todo := [c for c in chunks if c not in found]:
            campaign_ids = list(dict.fromkeys(c.campaign_id for c in todo))
            started = now_iso(self.now())
            markers = [
                {
                    "Put": {
                        "TableName": name,
                        "Item": {"pk": _pk(c.campaign_id), "sk": _chunk_sk(c), "state": "sending"}
                        | {"started_at": started},
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                }
                for c in todo
            ]
            checks = [
                {
                    "ConditionCheck": {
                        "TableName": name,
                        "Key": {"pk": _pk(campaign_id), "sk": CAMPAIGN},
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

    def _dispatch_all(
        self, begun: list[tuple["Chunk", dict[str, Any]]]
    ) -> tuple[list[tuple["Chunk", list[ProviderRequest], int]], dict["Chunk", Exception]]:
        """Send the begun chunks at once (the shared account rate paces them): per chunk, the
        provider requests to record and how many numbers were certainly not sent; apart, the chunks
        whose sending broke (their markers stay: a copy later reads them `unknown`)."""
        with contextlib.ExitStack() as coming:
            # Each provider's requests are announced: its account's rate is asked once for them all.
            # (A provider that cannot be named here fails its chunks' own dispatch, as it would have.)
            with contextlib.suppress(ValidationError, ConfigError):
                for name, chunks in Counter(item.get("provider") or order()[0] for _, item in begun).items():
                    if pacer := provider(name).pacer:
                        coming.enter_context(pacer.coming(chunks))
            context = contextvars.copy_context()  # the deadline, log keys and announcements reach the threads

            def attempt(pair: tuple[Chunk, dict[str, Any]]) -> Any:
                try:
                    return context.copy().run(self._dispatch, *pair)
                except Exception as error:
                    logger.exception("campaign chunk broke", extra={"campaign_id": pair[0].campaign_id})
                    return pair[0], error

            if len(begun) <= 1:
                results = [attempt(pair) for pair in begun]
            else:
                with ThreadPoolExecutor(max_workers=len(begun)) as pool:
                    results = list(pool.map(attempt, begun))
        sent = [r for r in results if len(r) == 3]
        return sent, dict(r for r in results if len(r) == 2)

    @staticmethod
    def _dispatch(chunk: "Chunk", item: dict[str, Any]) -> tuple["Chunk", list[ProviderRequest], int]:
        from smsgw.sending.dispatch import dispatch_and_describe  # noqa: PLC0415 - the send machinery, only here

        recipients = [trusted_e164(n) for n in chunk.numbers]  # the planner checked each one
        request = SendRequest(
            recipients, str(item["content"]), item.get("provider"), dict(item.get("options", {}))
        )
        try:
            requests, refused = dispatch_and_describe(
                request, recipients, chunk.campaign_id, item.get("tenant")
            )
        except NothingSent as error:
            requests, refused = [], len(recipients)
            logger.warning(
                "campaign chunk refused",
                extra={"campaign_id": chunk.campaign_id, "error": str(error.error)},
            )
        return chunk, requests, refused

    def _redelivered(self, item: dict[str, Any], chunk: "Chunk") -> "str | Waiting":
        """The chunk was begun before. Finished: nothing to do. Not finished: its provider call may
        have gone out, so its numbers are recorded `unknown`, never sent again."""
        marker = self.table.get_item(
            Key={"pk": _pk(chunk.campaign_id), "sk": _chunk_sk(chunk)}, ConsistentRead=True
        )["Item"]
        if marker["state"] == "done":
            return "duplicate"
        # SQS may hand the same message to two senders at once: a marker younger than any sender can
        # run is perhaps still being worked on. Only past that is the first sender certainly gone.
        age = (self.now() - datetime.fromisoformat(str(marker["started_at"]))).total_seconds()
        if age < IN_FLIGHT_SECONDS:
            return StillSending(IN_FLIGHT_SECONDS - age)
        unknown = ProviderRequest(
            provider=str(item.get("provider") or order()[0]),
            key=unknown_request_key(),
            numbers=chunk.numbers,
            status=Status.UNKNOWN,
            request_id=chunk.campaign_id,
            kind=Kind.BULK,
            segments=count_segments(str(item["content"])).count,
            tenant=item.get("tenant"),
        )
        self._finish([(chunk, [unknown], 0)])
        count("CampaignChunksUnknown", 1)
        return "unknown"

    def _finish(self, sent: list[tuple["Chunk", list[ProviderRequest], int]]) -> None:
        """Record the chunks' provider requests, mark them done and count them on their campaigns, in
        one transaction (more only past DynamoDB's 100 items); then the last chunk closes its
        campaign (a condition on the counters just added)."""
        if not sent:
            return
        messages = message_store()
        now = self.now()
        name = self.table.name
        for group in _transactions(sent):
            writes: list[dict[str, Any]] = []
            totals: dict[str, dict[str, int]] = {}
            for chunk, requests, refused in group:
                writes += [
                    {"Put": {"TableName": name, "Item": messages.request_item(r, now)}} for r in requests
                ]
                writes.append(
                    {
                        "Update": {
                            "TableName": name,
                            "Key": {"pk": _pk(chunk.campaign_id), "sk": _chunk_sk(chunk)},
                            "UpdateExpression": "SET #s = :done, finished_at = :now",
                            "ExpressionAttributeNames": {"#s": "state"},
                            "ExpressionAttributeValues": {":done": "done", ":now": now_iso(now)},
                        }
                    }
                )
                total = totals.setdefault(chunk.campaign_id, dict.fromkeys((":s", ":u", ":r", ":c", ":p"), 0))
                for key, value in _chunk_counts(requests, refused).items():
                    total[key] += value
            writes += [
                {
                    "Update": {
                        "TableName": name,
                        "Key": {"pk": _pk(campaign_id), "sk": CAMPAIGN},
                        "UpdateExpression": "ADD n_submitted :s, n_unknown :u, n_rejected :r,"
                        " chunks_done :c, provider_requests :p",
                        "ExpressionAttributeValues": total,
                    }
                }
                for campaign_id, total in totals.items()
            ]
            transact_write(self.table.meta.client, writes)
        for campaign_id in dict.fromkeys(chunk.campaign_id for chunk, _, _ in sent):
            self._close_if_done(campaign_id)


class _Enqueuer:
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


@dataclass(frozen=True)
class Chunk:
    """One message of the chunk queue: up to the provider's cap of a campaign's numbers."""

    campaign_id: str
    index: int
    numbers: list[str] = field(hash=False, compare=False)
    message_id: str = ""  # SQS's, to report the chunk failed
    receipt_handle: str = ""  # SQS's, to hide it until it may go

    @classmethod
    def from_record(cls, record: "SQSRecord") -> "Chunk":
        body = json.loads(record.body)
        return cls(
            str(body["campaign_id"]),
            int(body["chunk"]),
            [str(n) for n in body["numbers"]],
            record.message_id,
            record.receipt_handle,
        )


TRANSACTION_ITEMS = 100  # DynamoDB's limit per TransactWriteItems


def _transactions(
    sent: list[tuple[Chunk, list[ProviderRequest], int]],
) -> list[list[tuple[Chunk, list[ProviderRequest], int]]]:
    """The chunks grouped so that each group (its requests, markers and one counter update per
    campaign) fits one transaction; a chunk is never split."""
    groups: list[list[tuple[Chunk, list[ProviderRequest], int]]] = [[]]
    size = 0
    for entry in sent:
        need = len(entry[1]) + 2  # its requests, its marker, perhaps its campaign's counters
        if groups[-1] and size + need > TRANSACTION_ITEMS:
            groups.append([])
            size = 0
        groups[-1].append(entry)
        size += need
    return groups


def _chunk_counts(requests: list[ProviderRequest], refused: int) -> dict[str, int]:
    """What one chunk adds to its campaign's counters."""
    submitted = [r for r in requests if r.status is Status.SUBMITTED]
    return {
        ":s": sum(len(r.numbers) - r.dropped for r in submitted),
        ":u": sum(len(r.numbers) for r in requests if r.status is Status.UNKNOWN),
        ":r": refused + sum(r.dropped for r in submitted),
        ":c": 1,
        ":p": sum(1 for r in requests if r.status is not Status.UNKNOWN),
    }


def _by_campaign(chunks: list[Chunk]) -> dict[str, list[Chunk]]:
    grouped: dict[str, list[Chunk]] = {}
    for chunk in chunks:
        grouped.setdefault(chunk.campaign_id, []).append(chunk)
    return grouped


def _chunk_sk(chunk: Chunk) -> str:
    return f"chunk#{chunk.index}"


class Waiting(Exception):
    """A chunk that cannot go now: its message is hidden for `seconds` and reported failed."""

    def __init__(self, message: str, seconds: float) -> None:
        super().__init__(message)
        self.seconds = seconds


class StillSending(Waiting):
    """A copy of a chunk whose first sender may still be at work: it comes back in `seconds`."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"the chunk may still be sending; again in {seconds:.0f} s", seconds)


class Paused(Waiting):
    """A marketing chunk outside the window: it waits `seconds` (the SQS message's visibility)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"outside the marketing window for {seconds:.0f} s", seconds)


def _pk(campaign_id: str) -> str:
    return f"campaign#{campaign_id}"


def _list_key(campaign_id: str) -> str:
    return f"campaigns/{campaign_id}/recipients"


def _invalid_key(campaign_id: str) -> str:
    return f"campaigns/{campaign_id}/invalid.csv"


def _entries(lines: list[str], header: bool = True) -> Any:
    """(line number, first cell) of each non-empty line; in a file, a first line without digits is
    its header."""
    for line_no, line in enumerate(lines, start=1):
        cell = line.split(",", 1)[0].strip().strip('"')
        if not cell or (header and line_no == 1 and not any(c.isdigit() for c in cell)):
            continue
        yield line_no, cell


# A line holding just a Chinese mobile (national or +86, perhaps quoted, perhaps first of a CSV row):
# nearly every line of a real list. It is read in one match; any other line by `_entries`/`_parse`.
# Multiline, so that one match also finds it on every line of a block joined by newlines ([^\S\n]:
# \s within a line); a line of `splitlines` holds no newline, so `fullmatch` reads one line alone.
_PLAIN_CN_LINE = re.compile(r'^[^\S\n]*"?(?:\+86)?(1[3-9]\d{9})"?[^\S\n]*(?:,[^\n]*)?$', re.MULTILINE)
READ_LINES = 10_000  # a list is read this many lines at a time


def _all_plain(lines: list[str]) -> list[str] | None:
    """The E.164 numbers of a block of lines when every one of them is a plain Chinese mobile (one
    match over the whole block, in C), else None: the block is read line by line."""
    found = _PLAIN_CN_LINE.findall("\n".join(lines))
    return ["+86" + national for national in found] if len(found) == len(lines) else None


def _read(
    lines: list[str], allowed: tuple[int, ...], header: bool, first: int = 1
) -> Iterator[tuple[int, str, Recipient | None, str]]:
    """(line number, entry, recipient or None, why not) of each entry of a list's lines (`first`:
    the number of the first of them)."""
    plain = _PLAIN_CN_LINE.fullmatch if CHINA in allowed else None
    for line_no, line in enumerate(lines, start=first):
        if plain and (match := plain(line)):
            yield line_no, match.group(1), Recipient(CHINA, match.group(1)), ""
            continue
        for _, entry in _entries([line], header=header and line_no == 1):
            yield (line_no, entry, *_parse(entry, allowed))


def _parse(entry: str, allowed: tuple[int, ...]) -> tuple[Recipient | None, str]:
    try:
        recipient = parse_number(entry)
    except ValidationError as error:
        return None, error.errors[0].message
    if recipient.country_code not in allowed:
        return None, f"country +{recipient.country_code} is not allowed"
    return recipient, ""


def _number_or_none(entry: str) -> Recipient | None:
    return _parse(entry, settings().allowed_countries)[0]


def _estimate(item: dict[str, Any], now: datetime) -> str | None:
    """From the pace so far: started_at + elapsed / chunks done x chunks in all."""
    done, total = int(item.get("chunks_done", 0)), int(item.get("chunks_total", 0))
    if (
        item["state"] not in (CampaignState.RUNNING, CampaignState.PAUSED)
        or not done
        or "started_at" not in item
    ):
        return None
    started = datetime.fromisoformat(item["started_at"])
    return now_iso(started + (now - started) * (total / done))


@functools.cache
def campaigns() -> Campaigns:
    return Campaigns(CampaignSettings.from_env())


# -- SQS records ----------------------------------------------------------------------------------

MAX_VISIBILITY_S = 12 * 3600  # SQS's limit; a longer night is waited out in steps


def plan_record(record: Any) -> None:
    """One message of the plan queue: {"campaign_id"} (from `start`, or the schedule at send_at)."""
    campaigns().plan(str(json.loads(record.body)["campaign_id"]))


def chunk_batch(records: Iterable["SQSRecord"]) -> "PartialItemFailureResponse":
    """The chunk queue's batch (partial batch response): a chunk that must wait is hidden until it may
    go; it, and any chunk that failed, is reported for SQS to hand out again."""
    service = campaigns()
    chunks: list[Chunk] = []
    failed: list[str] = []
    for record in records:
        try:
            chunks.append(Chunk.from_record(record))
        except (ValueError, KeyError, TypeError):
            logger.exception("not a chunk", extra={"message_id": record.message_id})
            failed.append(record.message_id)
    ended = service.send_chunks(chunks)
    waiting = [(chunk, wait) for chunk, wait in ended.items() if isinstance(wait, Waiting)]
    if waiting:
        service.sqs.change_message_visibility_batch(
            QueueUrl=service.config.queue_url,
            Entries=[
                {
                    "Id": str(i),
                    "ReceiptHandle": chunk.receipt_handle,
                    "VisibilityTimeout": min(MAX_VISIBILITY_S, max(1, int(wait.seconds) + 1)),
                }
                for i, (chunk, wait) in enumerate(waiting)
            ],
        )
    failed += [chunk.message_id for chunk, outcome in ended.items() if isinstance(outcome, Exception)]
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}
