"""Campaigns: a list of numbers (inline, or a file uploaded to S3) sent in chunks through SQS.

create -> (upload) -> start -> plan (validate, de-duplicate, blocklist, cut at the provider's cap,
enqueue) -> send_chunk per SQS message -> done. The campaign is one item in the messages table
(`campaign#<id>` / `CAMPAIGN`) with its counters; each chunk has an intent marker beside it
(`campaign#<id>` / `chunk#<n>`) written before its provider call, so a redelivered chunk is never
sent twice: a chunk whose marker says it began but never finished reads `unknown`.
"""

import csv
import functools
import io
import json
import os
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import boto3
from botocore.exceptions import ClientError

from . import store as st
from .blocklist import blocklist
from .config import ConfigError, settings
from .content import count_segments, validate_content
from .errors import FieldError, NotFound, NothingSent, ValidationError, WrongState
from .messages import Kind, Status
from .numbers import Recipient, mask, parse_number
from .observability import count, logger
from .providers.registry import classes, names, order, provider
from .send_request import SendRequest, _options, options

BEIJING = timedelta(hours=8)
CAMPAIGN = "CAMPAIGN"
COUNTS = ("total", "invalid", "blocked", "queued", "submitted", "unknown", "rejected", "delivered", "failed")
FIELDS = {"content", "kind", "provider", "send_at", "to"}
TEXT_TYPES = ("text/plain", "text/csv")
SAMPLE_BYTES = 64 * 1024  # what `start` reads of an upload to tell numbers from anything else
SQS_BATCH = 10


class State(StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    RUNNING = "running"
    PAUSED = "paused"
    CANCELLED = "cancelled"
    DONE = "done"


class CampaignKind(StrEnum):
    MARKETING = "marketing"  # only inside the daytime window (Beijing time)
    NOTIFICATION = "notification"


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
        self.table = st.message_store().table
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
            "state": str(State.DRAFT),
            "kind": str(spec.kind),
            "content": spec.content,
            "options": spec.options,
            "created_at": st.now_iso(self.now()),
            "request_id": request_id,
            "source": "upload" if spec.to is None else "inline",
            "chunks_total": 0,
            "chunks_done": 0,
            "provider_requests": 0,
            **{f"n_{name}": 0 for name in COUNTS},
        }
        item |= {k: v for k, v in (("tenant", tenant), ("provider", spec.provider)) if v is not None}
        if spec.send_at:
            item["send_at"] = st.now_iso(spec.send_at.astimezone(UTC))
        self.table.put_item(Item=item)
        if spec.to is None:
            url = self.s3.generate_presigned_url(
                "put_object",
                Params={"Bucket": self.config.bucket, "Key": _list_key(campaign_id)},
                ExpiresIn=3600,
            )
            return {"campaign_id": campaign_id, "state": str(State.DRAFT), "upload_url": url}
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
        if item["state"] != State.DRAFT:
            raise WrongState(f"the campaign is {item['state']}: only a draft can start")
        if not checked:
            self._check_upload(campaign_id)
        send_at = datetime.fromisoformat(item["send_at"]) if "send_at" in item else None
        later = send_at is not None and send_at > self.now()
        state = State.SCHEDULED if later else State.RUNNING
        started = st.conditionally(
            self.table.update_item,
            Key={"pk": _pk(campaign_id), "sk": CAMPAIGN},
            UpdateExpression="SET #s = :s, started_at = :now",
            ConditionExpression="#s = :draft",
            ExpressionAttributeNames={"#s": "state"},
            ExpressionAttributeValues={
                ":s": str(state),
                ":draft": str(State.DRAFT),
                ":now": st.now_iso(self.now()),
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
            "counts": {name: int(item.get(f"n_{name}", 0)) for name in COUNTS},
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
        if item["state"] in (State.DONE, State.CANCELLED):
            raise WrongState(f"the campaign is already {item['state']}")
        self._set_state(campaign_id, State.CANCELLED, finished_at=st.now_iso(self.now()))
        if item["state"] == State.SCHEDULED:
            try:
                boto3.client("scheduler").delete_schedule(
                    Name=campaign_id, GroupName=self.config.schedule_group
                )
            except ClientError:
                logger.info("schedule already gone", extra={"campaign_id": campaign_id})
        return {"campaign_id": campaign_id, "state": str(State.CANCELLED)}

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
        state: State,
        only_from: tuple[State, ...] = (),
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
            values |= {":done": str(State.DONE), ":cancelled": str(State.CANCELLED)}
        if extra_condition:
            condition = f"{extra_condition} AND {condition}"
        return st.conditionally(
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
        cap. Safe to run twice (SQS may deliver twice): the counts are set, not added, and a chunk
        enqueued again finds its marker."""
        item = self._campaign(campaign_id)
        if item is None or item["state"] in (State.CANCELLED, State.DONE, State.DRAFT):
            return {"chunks": 0}
        if item["state"] == State.SCHEDULED:
            self._set_state(campaign_id, State.RUNNING, only_from=(State.SCHEDULED,))
        body = self.s3.get_object(Bucket=self.config.bucket, Key=_list_key(campaign_id))["Body"].read()
        text = body.decode("utf-8", errors="replace")
        config = settings()
        seen: set[Recipient] = set()
        valid: list[Recipient] = []
        invalid: list[tuple[int, str, str]] = []
        total = 0
        for line_no, entry in _entries(text.splitlines(), header=item.get("source") == "upload"):
            total += 1
            recipient, reason = _parse(entry, config.allowed_countries)
            if recipient is None:
                invalid.append((line_no, mask(entry), reason))
            elif recipient not in seen and len(valid) < self.config.max_recipients:
                seen.add(recipient)
                valid.append(recipient)
            elif recipient not in seen:
                invalid.append(
                    (line_no, mask(entry), f"over the campaign maximum of {self.config.max_recipients}")
                )
        blocked = blocklist().blocked(valid, item.get("tenant")) if valid else set()
        sendable = [r for r in valid if r not in blocked]
        first = item.get("provider") or order()[0]
        cap = provider(first).batch_size
        chunks = [sendable[i : i + cap] for i in range(0, len(sendable), cap)]
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
        self.table.update_item(
            Key={"pk": _pk(campaign_id), "sk": CAMPAIGN},
            UpdateExpression="SET n_total = :t, n_invalid = :i, n_blocked = :b, n_queued = :q,"
            " chunks_total = :c",
            ExpressionAttributeValues={
                ":t": total,
                ":i": len(invalid),
                ":b": len(blocked),
                ":q": len(sendable),
                ":c": len(chunks),
            },
        )
        messages = [
            json.dumps({"campaign_id": campaign_id, "chunk": n, "numbers": [r.e164 for r in chunk]})
            for n, chunk in enumerate(chunks)
        ]
        for start in range(0, len(messages), SQS_BATCH):
            entries = [
                {"Id": str(i), "MessageBody": m} for i, m in enumerate(messages[start : start + SQS_BATCH])
            ]
            answer = self.sqs.send_message_batch(QueueUrl=self.config.queue_url, Entries=entries)
            if answer.get("Failed"):
                raise RuntimeError(
                    f"SQS refused {len(answer['Failed'])} chunks of {campaign_id}"
                )  # retried whole
        if not chunks:
            self._set_state(campaign_id, State.DONE, finished_at=st.now_iso(self.now()))
        logger.info(
            "campaign planned",
            extra={"campaign_id": campaign_id, "chunks": len(chunks), "invalid": len(invalid)},
        )
        return {
            "chunks": len(chunks),
            "queued": len(sendable),
            "invalid": len(invalid),
            "blocked": len(blocked),
        }

    # -- the sender --------------------------------------------------------------------------------

    def send_chunk(self, message: dict[str, Any]) -> str:
        """One chunk: returns what happened ("sent", "duplicate", "unknown", "cancelled"); raises
        Paused when a marketing campaign is outside its window (the message waits for the opening)."""
        campaign_id, chunk = str(message["campaign_id"]), int(message["chunk"])
        item = self._campaign_for_chunk(campaign_id)
        if item is None or item["state"] == State.CANCELLED:
            return "cancelled"
        if item["kind"] == CampaignKind.MARKETING and (wait := closed_for(self.now(), self.config.window)):
            if self._set_state(campaign_id, State.PAUSED, only_from=(State.RUNNING,)):
                logger.info("campaign paused for the night", extra={"campaign_id": campaign_id})
            raise Paused(wait)
        if item["state"] == State.PAUSED:
            self._set_state(campaign_id, State.RUNNING, only_from=(State.PAUSED,))
        numbers = [str(n) for n in message["numbers"]]
        begun = self._intend(campaign_id, chunk)
        if begun == "cancelled":
            return begun
        if begun == "again":
            return self._redelivered(item, campaign_id, chunk, numbers)
        recipients = [parse_number(n) for n in numbers]
        request = SendRequest(
            recipients, str(item["content"]), item.get("provider"), dict(item.get("options", {}))
        )
        from .sending import dispatch_and_describe  # noqa: PLC0415 - the send machinery, only here

        try:
            requests, refused = dispatch_and_describe(request, recipients, campaign_id, item.get("tenant"))
        except NothingSent as error:
            requests, refused = [], len(recipients)
            logger.warning(
                "campaign chunk refused", extra={"campaign_id": campaign_id, "error": str(error.error)}
            )
        self._finish(campaign_id, chunk, requests, refused)
        return "sent"

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

    def _intend(self, campaign_id: str, chunk: int) -> str:
        """The chunk's intent marker, written only if absent and while the campaign is not cancelled,
        in one transaction: "begun", "again" (the marker was there) or "cancelled"."""
        name = self.table.name
        marker = {"pk": _pk(campaign_id), "sk": f"chunk#{chunk}", "state": "sending"}
        try:
            self.table.meta.client.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": name,
                            "Item": marker | {"started_at": st.now_iso(self.now())},
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                    {
                        "ConditionCheck": {
                            "TableName": name,
                            "Key": {"pk": _pk(campaign_id), "sk": CAMPAIGN},
                            "ConditionExpression": "#s <> :cancelled",
                            "ExpressionAttributeNames": {"#s": "state"},
                            "ExpressionAttributeValues": {":cancelled": str(State.CANCELLED)},
                        }
                    },
                ]
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            reasons = [r.get("Code") for r in error.response.get("CancellationReasons", [])]
            if reasons[:1] == ["ConditionalCheckFailed"]:
                return "again"
            if reasons[1:2] == ["ConditionalCheckFailed"]:
                return "cancelled"
            raise
        return "begun"

    def _redelivered(self, item: dict[str, Any], campaign_id: str, chunk: int, numbers: list[str]) -> str:
        """The chunk was begun before. Finished: nothing to do. Not finished: its provider call may
        have gone out, so its numbers are recorded `unknown`, never sent again."""
        marker = self.table.get_item(
            Key={"pk": _pk(campaign_id), "sk": f"chunk#{chunk}"}, ConsistentRead=True
        )["Item"]
        if marker["state"] == "done":
            return "duplicate"
        # SQS may hand the same message to two senders at once: a marker younger than any sender can
        # run is perhaps still being worked on. Only past that is the first sender certainly gone.
        age = (self.now() - datetime.fromisoformat(str(marker["started_at"]))).total_seconds()
        if age < IN_FLIGHT_SECONDS:
            raise StillSending(IN_FLIGHT_SECONDS - age)
        unknown = st.ProviderRequest(
            provider=str(item.get("provider") or order()[0]),
            key=st.unknown_request_key(),
            numbers=numbers,
            status=Status.UNKNOWN,
            request_id=campaign_id,
            kind=Kind.BULK,
            segments=count_segments(str(item["content"])).count,
            tenant=item.get("tenant"),
        )
        self._finish(campaign_id, chunk, [unknown], 0)
        count("CampaignChunksUnknown", 1)
        return "unknown"

    def _finish(self, campaign_id: str, chunk: int, requests: list[st.ProviderRequest], refused: int) -> None:
        """Record the chunk's provider requests, mark it done and count it, in one transaction."""
        store = st.message_store()
        now = self.now()
        submitted = sum(len(r.numbers) - r.dropped for r in requests if r.status is Status.SUBMITTED)
        unknown = sum(len(r.numbers) for r in requests if r.status is Status.UNKNOWN)
        dropped = sum(r.dropped for r in requests if r.status is Status.SUBMITTED)
        client = self.table.meta.client  # the resource's client: plain values, as the table takes
        name = self.table.name
        writes: list[dict[str, Any]] = [
            {"Put": {"TableName": name, "Item": store.request_item(r, now)}} for r in requests
        ]
        writes.append(
            {
                "Update": {
                    "TableName": name,
                    "Key": {"pk": _pk(campaign_id), "sk": f"chunk#{chunk}"},
                    "UpdateExpression": "SET #s = :done, finished_at = :now",
                    "ExpressionAttributeNames": {"#s": "state"},
                    "ExpressionAttributeValues": {":done": "done", ":now": st.now_iso(now)},
                }
            }
        )
        writes.append(
            {
                "Update": {
                    "TableName": name,
                    "Key": {"pk": _pk(campaign_id), "sk": CAMPAIGN},
                    "UpdateExpression": "ADD n_submitted :s, n_unknown :u, n_rejected :r,"
                    " chunks_done :one, provider_requests :p",
                    "ExpressionAttributeValues": {
                        ":s": submitted,
                        ":u": unknown,
                        ":r": refused + dropped,
                        ":one": 1,
                        ":p": sum(1 for r in requests if r.status is not Status.UNKNOWN),
                    },
                }
            }
        )
        client.transact_write_items(TransactItems=writes)
        # The last chunk to finish closes the campaign (a condition on the counters just added).
        closed = self._set_state(
            campaign_id,
            State.DONE,
            only_from=(State.RUNNING, State.PAUSED),
            extra_condition="chunks_done >= chunks_total",
            finished_at=st.now_iso(now),
        )
        if closed:
            logger.info("campaign done", extra={"campaign_id": campaign_id})


class StillSending(Exception):
    """A copy of a chunk whose first sender may still be at work: it comes back in `seconds`."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"the chunk may still be sending; again in {seconds:.0f} s")
        self.seconds = seconds


class Paused(Exception):
    """A marketing chunk outside the window: it waits `seconds` (the SQS message's visibility)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"outside the marketing window for {seconds:.0f} s")
        self.seconds = seconds


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
    if item["state"] not in (State.RUNNING, State.PAUSED) or not done or "started_at" not in item:
        return None
    started = datetime.fromisoformat(item["started_at"])
    return st.now_iso(started + (now - started) * (total / done))


@functools.cache
def campaigns() -> Campaigns:
    return Campaigns(CampaignSettings.from_env())


# -- SQS records ----------------------------------------------------------------------------------

MAX_VISIBILITY_S = 12 * 3600  # SQS's limit; a longer night is waited out in steps


def plan_record(record: Any) -> None:
    """One message of the plan queue: {"campaign_id"} (from `start`, or the schedule at send_at)."""
    campaigns().plan(str(json.loads(record.body)["campaign_id"]))


def chunk_record(record: Any) -> None:
    """One chunk. Paused (outside the marketing window): the message is hidden until the window
    opens and reported failed, so SQS hands it out again then."""
    try:
        campaigns().send_chunk(json.loads(record.body))
    except (Paused, StillSending) as wait:
        service = campaigns()
        service.sqs.change_message_visibility(
            QueueUrl=service.config.queue_url,
            ReceiptHandle=record.receipt_handle,
            VisibilityTimeout=min(MAX_VISIBILITY_S, max(1, int(wait.seconds) + 1)),
        )
        raise
