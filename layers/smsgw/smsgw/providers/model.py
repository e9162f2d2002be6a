"""What providers and the gateway exchange: verdicts, classification rows, options, settings, what a
send returned, status updates."""

import os
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from smsgw.domain.content import text_problem
from smsgw.domain.numbers import Recipient
from smsgw.domain.statuses import Status
from smsgw.platform.config import ConfigError, Settings
from smsgw.platform.errors import OutcomeUnknown, ProviderError, ProviderRejected, ProviderUnavailable
from smsgw.platform.transport import Timeouts

# Credentials and numbers travel in the clear over http: only the local sandboxes may be reached so.
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


class Receipts(StrEnum):
    """How final statuses arrive: pushed to our callback, or polled from the provider."""

    PUSHED = "pushed"
    POLLED = "polled"


class Verdict(StrEnum):
    """What an error answer proves about the request."""

    REJECTED = "rejected"  # refused for the request itself (content, numbers): would fail anywhere
    REJECTED_NUMBER = "rejected_number"  # refused for a number in it: the others may go (split to find it)
    REFUSED_ACCOUNT = "refused_account"  # refused for the account or provider: another may take it
    UNAVAILABLE = "unavailable"  # certainly not processed: may fail over
    OUTCOME_UNKNOWN = "outcome_unknown"  # may have been sent: never retried, never failed over
    BACK_OFF = "back_off"  # rate limited, certainly not sent: retry after a pause
    # The credentials were refused, certainly not sent: perhaps rotated, so the secret is read again
    # and the request made once more; refused again, another provider may take it.
    CREDENTIALS = "credentials"


@dataclass(frozen=True, slots=True)
class Code:
    """One row of a provider's classification table."""

    text: str
    verdict: Verdict


def provider_error(
    provider: str,
    row: Code,
    *,
    code: str | None,
    message: str | None = None,
    status: int | None = None,
    raw: str = "",
) -> ProviderError:
    """The domain error for a classified answer."""
    text, raw = message or row.text, raw[:500]
    if row.verdict is Verdict.UNAVAILABLE:
        return ProviderUnavailable(provider, text, code, status, raw)
    if row.verdict is Verdict.OUTCOME_UNKNOWN:
        return OutcomeUnknown(provider, text, code, status, raw)
    failover = row.verdict in (Verdict.REFUSED_ACCOUNT, Verdict.BACK_OFF, Verdict.CREDENTIALS)
    back_off, per_number = row.verdict is Verdict.BACK_OFF, row.verdict is Verdict.REJECTED_NUMBER
    credentials = row.verdict is Verdict.CREDENTIALS
    return ProviderRejected(provider, text, code, status, raw, failover, back_off, per_number, credentials)


# HTTP statuses that prove a request was not processed when the body is not the provider's own
# answer (a proxy, a wrong base path, a web server's error page): nothing was sent, so another
# provider may take it. 5xx proves nothing: the server may have failed after acting.
NOT_PROCESSED = frozenset({401, 403, 404, 405, 413, 415, 429})


def not_processed(provider: str, status: int, raw: str) -> ProviderUnavailable | None:
    if status not in NOT_PROCESSED:
        return None
    return ProviderUnavailable(
        provider, f"HTTP {status}: the request was not processed", str(status), status, raw[:500]
    )


@dataclass(frozen=True, slots=True)
class Option:
    """An optional send field a provider takes: validated once, described once for OpenAPI."""

    field: str  # the API's name
    wire: str  # the provider's name
    description: str
    pattern: str | None = None

    def problem(self, value: object) -> str | None:
        if not isinstance(value, str) or not value.strip():
            return "must be a non-empty string"
        if len(value) > 64:
            return "must be at most 64 characters"
        if problem := text_problem(value, newlines=False):
            return problem
        if self.pattern and not re.fullmatch(self.pattern, value):
            return f"must match {self.pattern}"
        return None

    def schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "string", "minLength": 1, "description": self.description}
        if self.pattern:
            schema["pattern"] = f"^{self.pattern}$"
        return schema


@dataclass(frozen=True, slots=True)
class ProviderSettings:
    """One provider's configuration, in the same shape for every provider."""

    base_url: str
    secret_id: str
    batch_size: int  # recipients per request, at most the provider's cap
    requests_per_second: float | None  # per account, across this container; None: unpaced
    query_batch: int = 100  # ids per status query (polled providers)
    concurrency: int = 8  # requests in flight per send
    timeouts: Timeouts = Timeouts()


class Accepted(NamedTuple):
    """A recipient the provider accepted, and the provider's id for it (a message id or a task id).
    A tuple: a bulk send makes one per recipient, and a tuple is made several times faster."""

    recipient: Recipient
    provider_id: str


@dataclass(frozen=True, slots=True)
class ChunkFailure:
    recipients: list[Recipient]
    error: ProviderError


@dataclass(frozen=True, slots=True)
class TaskAnswer:
    """What a provider said of one accepted request: its id, and (where it says so) how many numbers
    it took and how many segments it billed."""

    provider_id: str
    taken: int | None = None
    billed: int | None = None


@dataclass(frozen=True, slots=True)
class Task:
    """One accepted provider request carrying one id for all its recipients (id_per_request)."""

    provider_id: str
    recipients: list[Recipient]
    taken: int | None = None  # fewer than len(recipients): the provider dropped some
    billed: int | None = None

    @property
    def dropped(self) -> int:
        return 0 if self.taken is None else max(0, len(self.recipients) - self.taken)


@dataclass(slots=True)
class SendOutcome:
    """A bulk send is chunked: some chunks may be accepted while others fail. Both are reported, so
    nothing accepted is lost and nothing failed is recorded as sent."""

    provider: str
    singly: list[Accepted] = field(default_factory=list)  # accepted one by one: an id each, or alone
    failures: list[ChunkFailure] = field(default_factory=list)
    requests: int = 0
    tasks: list[Task] = field(default_factory=list)  # accepted as a whole, under one id

    @property
    def accepted(self) -> list[Accepted]:
        """Every accepted recipient and its provider id. A task's are made only when asked for: the
        send path reads the tasks themselves (a campaign's million recipients are a thousand tasks)."""
        return self.singly + [Accepted(r, task.provider_id) for task in self.tasks for r in task.recipients]

    def merge(self, other: "SendOutcome") -> None:
        self.singly.extend(other.singly)
        self.failures.extend(other.failures)
        self.requests += other.requests
        self.tasks.extend(other.tasks)

    def take_refused_number(self) -> ChunkFailure | None:
        """Remove and return a failure refused for a number in its request, if any."""
        for failure in self.failures:
            if isinstance(failure.error, ProviderRejected) and failure.error.per_number:
                self.failures.remove(failure)
                return failure
        return None


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    """A status from the provider: a pushed receipt (with the number) or a polled row (without)."""

    provider_id: str
    status: Status
    provider_status: str
    number: str | None = None  # E.164 where the receipt names a whole number
    provider_time: str | None = None  # as the provider wrote it
    number_hint: str = ""  # what the receipt had for the number when it is not whole (masked)
    at: str | None = None  # provider_time as ISO-8601 UTC


class ReceiptRefused(Exception):
    """A pushed body that is not a receipt for our account (answered 4xx, never stored)."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(message)


def provider_settings(
    config: Settings,
    prefix: str,
    *,
    base_url: str,
    batch_size: int,
    requests_per_second: float | None,
    concurrency: int | None = None,
    env: dict[str, str] | None = None,
) -> ProviderSettings:
    """One provider's settings from `<prefix>_BASE_URL`, `_SECRET_ID`, `_BATCH_SIZE`,
    `_REQUESTS_PER_SECOND` (0: unpaced), `_QUERY_BATCH` and `_CONCURRENCY` (requests in flight per
    send); the defaults are the provider's, then `config`'s PROVIDER_CONCURRENCY and timeouts."""
    values: dict[str, str] = dict(os.environ) if env is None else env

    def value(name: str, default: str) -> str:
        return values.get(f"{prefix}_{name}") or default

    secret_id = value("SECRET_ID", "")
    if not secret_id:
        raise ConfigError(f"environment variable {prefix}_SECRET_ID is required")
    try:
        batch = int(value("BATCH_SIZE", str(batch_size)))
        rate = float(value("REQUESTS_PER_SECOND", str(requests_per_second or 0)))
        query_batch = int(value("QUERY_BATCH", "100"))
        in_flight = int(value("CONCURRENCY", str(concurrency or config.provider_concurrency)))
    except ValueError:
        raise ConfigError(
            f"{prefix}_BATCH_SIZE, _REQUESTS_PER_SECOND, _QUERY_BATCH and _CONCURRENCY are numbers"
        ) from None
    if batch <= 0 or rate < 0 or query_batch <= 0 or in_flight <= 0:
        raise ConfigError(
            f"{prefix}_BATCH_SIZE, _QUERY_BATCH and _CONCURRENCY must be positive, the rate not negative"
        )
    url = value("BASE_URL", base_url)
    parts = urlsplit(url)
    if parts.scheme != "https" and not (parts.scheme == "http" and parts.hostname in LOOPBACK):
        raise ConfigError(
            f"{prefix}_BASE_URL must be https:// (plain http only on this machine: the sandboxes)"
        )
    return ProviderSettings(
        base_url=url,
        secret_id=secret_id,
        batch_size=batch,
        requests_per_second=rate or None,
        query_batch=query_batch,
        concurrency=in_flight,
        timeouts=Timeouts(connect=config.connect_timeout, read=config.read_timeout),
    )
