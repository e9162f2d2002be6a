"""The campaign API: create (inline list, or an upload URL), start (now, or scheduled at send_at),
view and cancel. What happens after start is the planner's (planner.py) and the senders' (sender.py).

create -> (upload) -> start -> plan (validate, de-duplicate, blocklist, cut at the provider's cap,
enqueue as the list is read) -> send chunks per batch of SQS messages -> done. Delivered and failed
are counted from the table's stream (progress.py).
"""

import functools
import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.exceptions import ClientError

from smsgw.campaigns.lists import entries, number_or_none
from smsgw.campaigns.model import (
    CAMPAIGN,
    CampaignSpec,
    campaign_pk,
    estimate,
    invalid_key,
    list_key,
    upload_key,
)
from smsgw.campaigns.table import CampaignTable
from smsgw.domain.statuses import CAMPAIGN_COUNTS, CampaignState
from smsgw.platform.config import Settings, settings
from smsgw.platform.errors import ValidationError, WrongState
from smsgw.platform.observability import logger
from smsgw.storage.items import now_iso
from smsgw.storage.messages import message_store

TEXT_TYPES = ("text/plain", "text/csv")
SAMPLE_BYTES = 64 * 1024  # what `start` reads of an upload to tell numbers from anything else
URL_SECONDS = 3600  # how long an upload or invalid-entries URL lasts
INLINE = "inline"  # the version of a list given in the request


class Campaigns:
    def __init__(self, config: Settings, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.clock = clock
        self.table = CampaignTable(message_store(), self.now)
        self.s3: Any = boto3.client("s3")
        self.sqs: Any = boto3.client("sqs")

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def create(self, spec: CampaignSpec, tenant: str | None, request_id: str) -> dict[str, Any]:
        campaign_id = f"cmp-{uuid.uuid4().hex[:20]}"
        item: dict[str, Any] = {
            "pk": campaign_pk(campaign_id),
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
        self.table.put(item)
        if spec.to is None:
            url = self.s3.generate_presigned_url(
                "put_object",
                Params={"Bucket": self.config.campaign_bucket, "Key": upload_key(campaign_id)},
                ExpiresIn=URL_SECONDS,
            )
            return {"campaign_id": campaign_id, "state": str(CampaignState.DRAFT), "upload_url": url}
        lines = "\n".join(str(entry) if isinstance(entry, str | int) else "" for entry in spec.to)
        self.s3.put_object(
            Bucket=self.config.campaign_bucket,
            Key=list_key(campaign_id, INLINE),
            Body=lines.encode(),
            ContentType="text/plain",
        )
        return self.start(campaign_id, tenant, checked=True)

    def start(self, campaign_id: str, tenant: str | None, checked: bool = False) -> dict[str, Any]:
        item = self.table.mine(campaign_id, tenant)
        if item["state"] != CampaignState.DRAFT:
            raise WrongState(f"the campaign is {item['state']}: only a draft can start")
        listed = list_key(campaign_id, INLINE) if checked else self._check_upload(campaign_id)
        send_at = datetime.fromisoformat(item["send_at"]) if "send_at" in item else None
        later = send_at is not None and send_at > self.now()
        state = CampaignState.SCHEDULED if later else CampaignState.RUNNING
        if not self.table.set_state(
            campaign_id,
            state,
            only_from=(CampaignState.DRAFT,),
            started_at=now_iso(self.now()),
            list_object=listed,
        ):
            raise WrongState("the campaign has already started")
        message = json.dumps({"campaign_id": campaign_id})
        if later and send_at is not None:
            boto3.client("scheduler").create_schedule(
                Name=campaign_id,
                GroupName=self.config.campaign_schedule_group,
                ScheduleExpression=f"at({send_at.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%S')})",
                ScheduleExpressionTimezone="UTC",
                FlexibleTimeWindow={"Mode": "OFF"},
                ActionAfterCompletion="DELETE",
                Target={
                    "Arn": self.config.campaign_plan_queue_arn,
                    "RoleArn": self.config.campaign_scheduler_role_arn,
                    "Input": message,
                },
            )
        else:
            self.sqs.send_message(QueueUrl=self.config.campaign_plan_queue_url, MessageBody=message)
        return {"campaign_id": campaign_id, "state": str(state)}

    def _check_upload(self, campaign_id: str) -> str:
        """A bad upload gets a clear error and starts nothing: missing, empty, too large, not text,
        or no number in its first lines. The upload as checked (its ETag) is copied to the key the
        planner reads: one PUT after start changes nothing."""
        bucket, key = self.config.campaign_bucket, upload_key(campaign_id)
        try:
            head = self.s3.head_object(Bucket=bucket, Key=key)
        except ClientError:
            raise ValidationError.single(
                "upload", "no list uploaded yet: PUT it to the campaign's upload_url"
            ) from None
        size = int(head["ContentLength"])
        content_type = str(head.get("ContentType", "")).split(";")[0].strip().lower()
        most = self.config.campaign_max_upload_bytes
        if size == 0:
            raise ValidationError.single("upload", "the list is empty")
        if size > most:
            raise ValidationError.single("upload", f"the list is {size} bytes; at most {most}")
        if content_type not in TEXT_TYPES:
            raise ValidationError.single(
                "upload", f"content type must be text/plain or text/csv, not {content_type or 'none'}"
            )
        sample = self.s3.get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{SAMPLE_BYTES - 1}")[
            "Body"
        ].read()
        lines = sample.decode("utf-8", errors="replace").splitlines()[:-1] or [
            sample.decode("utf-8", "replace")
        ]
        if not any(number_or_none(entry) for _, entry in entries(lines)):
            raise ValidationError.single("upload", "no phone number among the list's first lines")
        listed = list_key(campaign_id, str(head["ETag"]))
        try:
            self.s3.copy_object(
                Bucket=bucket,
                Key=listed,
                CopySource={"Bucket": bucket, "Key": key},
                CopySourceIfMatch=head["ETag"],
                ContentType=content_type,
                MetadataDirective="REPLACE",
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") not in ("PreconditionFailed", "412"):
                raise
            raise ValidationError.single(
                "upload", "the list changed while the campaign started: start again"
            ) from None
        return listed

    def view(self, campaign_id: str, tenant: str | None) -> dict[str, Any]:
        item = self.table.mine(campaign_id, tenant)
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
        if (finish := estimate(item, self.now())) is not None:
            answer["estimated_finish_at"] = finish
        if int(item.get("n_invalid", 0)):
            answer["invalid_url"] = self.s3.generate_presigned_url(
                "get_object",
                Params={"Bucket": self.config.campaign_bucket, "Key": invalid_key(campaign_id)},
                ExpiresIn=URL_SECONDS,
            )
        return answer

    def cancel(self, campaign_id: str, tenant: str | None) -> dict[str, Any]:
        item = self.table.mine(campaign_id, tenant)
        if item["state"] in (CampaignState.DONE, CampaignState.CANCELLED):
            raise WrongState(f"the campaign is already {item['state']}")
        self.table.set_state(campaign_id, CampaignState.CANCELLED, finished_at=now_iso(self.now()))
        if item["state"] == CampaignState.SCHEDULED:
            try:
                boto3.client("scheduler").delete_schedule(
                    Name=campaign_id, GroupName=self.config.campaign_schedule_group
                )
            except ClientError:
                logger.info("schedule already gone", extra={"campaign_id": campaign_id})
        return {"campaign_id": campaign_id, "state": str(CampaignState.CANCELLED)}


@functools.cache
def campaigns() -> Campaigns:
    return Campaigns(settings())
