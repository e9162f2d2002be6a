"""A send and a verification code, from an API request: the blocklist and limits, the providers
(dispatch.py), recording, the limits given back for what was not sent. Returns a result; the HTTP
layer decides how to answer it."""

import contextlib
import contextvars
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import NamedTuple

from smsgw.domain.caller import Caller
from smsgw.domain.content import Segments, count_segments
from smsgw.domain.numbers import Recipient
from smsgw.domain.statuses import Kind, Status
from smsgw.guards.blocklist import blocklist
from smsgw.guards.limits import Charge, limits
from smsgw.platform import transport
from smsgw.platform.config import settings
from smsgw.platform.errors import (
    Failover,
    NotAttempted,
    NothingSent,
    PreviousAttemptUnknown,
    ProviderError,
    ValidationError,
)
from smsgw.platform.observability import count, logger
from smsgw.providers.registry import provider
from smsgw.sending.dispatch import Dispatch, Providers, describe, dispatch
from smsgw.sending.request import SendRequest
from smsgw.storage.messages import MessageStore, ProviderRequest, message_store
from smsgw.verification.codes import verifications
from smsgw.webhooks.endpoints import endpoints

# From this many recipients, making their message ids (an HMAC each) while the requests' items are
# written saves more than the thread costs (about 0.2 ms).
OVERLAP_FROM = 1000
NOT_KEPT = "the code was sent but could not be kept for checking (storage unavailable): ask for a new one"


class MessageResult(NamedTuple):  # a recipient no provider request took: refused, blocked, unknown
    to: str  # E.164
    status: Status
    error: ProviderError | None = None


class Sent(NamedTuple):
    """The recipients of one provider request: they share its status and provider. One per request,
    not a result per recipient (a bulk send has 10,000)."""

    provider: str
    numbers: list[str]  # E.164
    message_ids: list[str]  # in the same order
    status: Status


@dataclass
class SendResult:
    kind: Kind
    messages: list[MessageResult]  # after the recipients of `sent`
    request_id: str | None = None
    provider: str | None = None  # the provider of the first recorded message
    segments: Segments | None = None
    failovers: list[Failover] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    provider_requests: int = 0
    billed_segments: int | None = None  # as the providers reported it, where they do
    sent: list[Sent] = field(default_factory=list)
    verification_id: str | None = None  # a verification code's, once kept for checking

    def __post_init__(self) -> None:  # nothing is changed later
        self._counts = Counter(m.status for m in self.messages)
        for sent in self.sent:
            self._counts[sent.status] += len(sent.numbers)
        self.recipients = len(self.messages) + sum(len(sent.numbers) for sent in self.sent)

    def counted(self, status: Status) -> int:
        return self._counts[status]

    @property
    def summary(self) -> dict[str, int]:
        statuses = (Status.SUBMITTED, Status.UNKNOWN, Status.REJECTED, Status.BLOCKED)
        counts = {str(s): self.counted(s) for s in statuses}
        if not_sent := self.counted(Status.NOT_SENT):
            counts[str(Status.NOT_SENT)] = not_sent
        if self.billed_segments is not None:
            counts["billed_segments"] = self.billed_segments
        return counts

    @property
    def complete(self) -> bool:
        """Every recipient submitted."""
        return self.counted(Status.SUBMITTED) == self.recipients


def send(
    request: SendRequest,
    kind: Kind,
    caller: Caller,
    before_provider_call: Callable[[], None],
    *,
    providers: Providers = provider,
    store: MessageStore | None = None,
) -> SendResult:
    """Check the blocklist and limits, then call `before_provider_call` (the idempotency intent)
    and the providers. Raises NothingSent when no provider took any recipient."""
    if request.status_callback and not endpoints().of_tenant(caller.tenant):
        raise ValidationError.single(
            "status_callback",
            "needs a webhook endpoint of this API key first: its secret signs the callbacks",
        )
    blocked = blocklist().blocked(request.recipients, caller.tenant)
    allowed = [r for r in request.recipients if r not in blocked]
    if not allowed:
        raise ValidationError.single("to", "every recipient is on the blocklist")
    charges = [limits().check_verification(allowed[0], caller.source_ip)] if kind is Kind.VERIFY else []
    charges.append(limits().consume_recipients(caller.api_key, len(allowed)))
    try:
        before_provider_call()
    except PreviousAttemptUnknown as error:
        return _previous_attempt(kind, allowed, str(error))  # it may have sent: nothing to give back
    try:
        with _deadline(caller):
            dispatched = dispatch(request, allowed, kind, providers)
        result = _record(request, dispatched, blocked, caller, kind, store=store or message_store())
    except NothingSent:
        _refund(charges, len(allowed))
        raise
    _refund(charges, result.counted(Status.REJECTED) + result.counted(Status.NOT_SENT))
    return result


def send_code(
    request: SendRequest, code: str, caller: Caller, before_provider_call: Callable[[], None]
) -> SendResult:
    """A verification code: sent as `send` sends it, then kept (as an HMAC) for checking once it may
    be live (submitted or unknown). Keeping it can fail after the code is out: a 5xx would have the
    caller send another, so the answer says what happened instead."""
    result = send(request, Kind.VERIFY, caller, before_provider_call)
    if result.counted(Status.SUBMITTED) + result.counted(Status.UNKNOWN):
        try:
            result.verification_id = verifications().start(request.recipients[0], code, caller.tenant)
        except Exception:
            logger.exception("verification not recorded after its code was sent")
            result.warnings.append(NOT_KEPT)
    return result


@contextlib.contextmanager
def _deadline(caller: Caller) -> Iterator[None]:
    """Provider requests must finish while the function can still record them and answer: by the
    Lambda deadline less SEND_RESERVE_SECONDS. Without a Lambda context there is no deadline."""
    remaining = caller.context.get_remaining_time_in_millis() / 1000 if caller.context else None
    until = None if remaining is None else time.monotonic() + remaining - settings().send_reserve_seconds
    token = transport.deadline.set(until)
    try:
        yield
    finally:
        transport.deadline.reset(token)


def _refund(charges: list[Charge], count: int) -> None:
    """Limits count what was sent (or may have been): recipients certainly not sent are given back.
    A failed refund only errs on the strict side, so it is logged, not raised."""
    if count <= 0:
        return
    try:
        limits().refund(charges, count)
    except Exception:
        logger.exception("refunding limits failed", extra={"recipients": count})


# -- recording -----------------------------------------------------------------------------------


def _record(
    request: SendRequest,
    dispatched: Dispatch,
    blocked: set[Recipient],
    caller: Caller,
    kind: Kind,
    *,
    store: MessageStore,
) -> SendResult:
    """Record what a provider took (or may have taken), one item per provider request; a result for
    every recipient."""
    described = describe(dispatched, request.content, kind, caller.request_id, caller.tenant)
    requests = described.requests
    if request.status_callback:
        requests = [replace(r, status_callback=request.status_callback) for r in requests]
    clients = {client.name: client for client, _ in dispatched.outcomes}

    def groups() -> list[Sent]:
        return [
            Sent(
                r.provider, r.numbers, [clients[r.provider].message_id(r.key, n) for n in r.numbers], r.status
            )
            for r in requests
        ]

    if sum(len(r.numbers) for r in requests) < OVERLAP_FROM:
        stored, sent = _store(store, requests), groups()
    else:  # the write is mostly a wait on DynamoDB: the message ids are made meanwhile
        with ThreadPoolExecutor(max_workers=1) as writer:
            storing = writer.submit(contextvars.copy_context().run, _store, store, requests)
            sent = groups()
            stored = storing.result()
    messages = [
        MessageResult(r.e164, Status.NOT_SENT if isinstance(e, NotAttempted) else Status.REJECTED, error=e)
        for r, e in described.refused
    ]
    if blocked:
        messages += [MessageResult(r.e164, Status.BLOCKED) for r in request.recipients if r in blocked]
    billed = [r.billed for r in requests if r.billed is not None]
    result = SendResult(
        kind,
        messages,
        caller.request_id,
        requests[0].provider,
        count_segments(request.content),
        dispatched.failovers,
        stored + described.warnings,
        sum(o.requests for _, o in dispatched.outcomes),
        sum(billed) if billed else None,
        sent,
    )
    logger.info(
        "send finished", extra={"kind": kind, "provider_requests": result.provider_requests, **result.summary}
    )
    return result


def _previous_attempt(kind: Kind, recipients: list[Recipient], reason: str) -> SendResult:
    logger.warning("earlier attempt with this Idempotency-Key did not finish; not sending again")
    warning = reason + "; nothing was sent again. Check the delivery status before sending anew."
    return SendResult(kind, [MessageResult(r.e164, Status.UNKNOWN) for r in recipients], warnings=[warning])


def _store(store: MessageStore, requests: list[ProviderRequest]) -> list[str]:
    """The provider has already sent: failing the request now would invite a retry and a double send.
    So a storage failure is logged, counted and reported in the answer, not raised."""
    try:
        store.record(requests)
    except Exception:
        messages = sum(len(r.numbers) for r in requests)
        logger.exception("recording sent messages failed", extra={"messages": messages})
        count("RecordFailed", messages)
        return ["the messages were sent but their status could not be recorded; status lookups may 404"]
    return []
