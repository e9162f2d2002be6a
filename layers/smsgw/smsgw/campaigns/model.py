"""What a campaign is: its request, where it lives (table keys, bucket keys), its chunks, the waits a
chunk can meet, and when a marketing message may go."""

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from smsgw.domain.content import validate_content
from smsgw.domain.statuses import CampaignKind, CampaignState
from smsgw.platform.config import settings
from smsgw.platform.errors import FieldError, ValidationError
from smsgw.providers.registry import classes, names
from smsgw.sending.request import chosen_options, options
from smsgw.storage.items import now_iso

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

BEIJING = timedelta(hours=8)
CAMPAIGN = "CAMPAIGN"  # the sort key of a campaign's own item
FIELDS = {"content", "kind", "provider", "send_at", "to"}


def campaign_pk(campaign_id: str) -> str:
    return f"campaign#{campaign_id}"


def upload_key(campaign_id: str) -> str:
    """Where the caller PUTs a list (the presigned URL): anything may land here, any time."""
    return f"campaigns/{campaign_id}/recipients"


def list_key(campaign_id: str, version: str) -> str:
    """The list the planner reads: written by the gateway alone (inline, or the upload as checked at
    start, under its ETag), so a later upload can neither grow past the size cap nor change what is
    sent. The campaign item names it (`list_object`) in the same write that starts the campaign."""
    return f"campaigns/{campaign_id}/list-{version.strip('"')}"


def invalid_key(campaign_id: str) -> str:
    return f"campaigns/{campaign_id}/invalid.csv"


def closed_for(now: datetime, window: tuple[int, int]) -> float:
    """Seconds until the marketing window (Beijing time) next opens; 0 inside it."""
    local = now.astimezone(UTC) + BEIJING
    minute = local.hour * 60 + local.minute + local.second / 60 + local.microsecond / 60e6
    opening, closing = window
    if opening <= minute < closing:
        return 0.0
    wait = (opening - minute) % (24 * 60)
    return wait * 60


def estimate(item: dict[str, Any], now: datetime) -> str | None:
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
        chosen = chosen_options(body, named, errors)
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


@dataclass(frozen=True)
class Chunk:
    """One message of the chunk queue: up to the provider's cap of a campaign's numbers."""

    campaign_id: str
    index: int
    numbers: list[str] = field(hash=False, compare=False)
    message_id: str = ""  # SQS's, to report the chunk failed
    receipt_handle: str = ""  # SQS's, to hide it until it may go

    @property
    def sk(self) -> str:
        """The sort key of its intent marker, beside its campaign's item."""
        return f"chunk#{self.index}"

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
