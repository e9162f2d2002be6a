"""Send and verify-code: blocklist, limits, failover across providers, recording. Returns a result;
the API layer decides how to answer it."""

import contextlib
import contextvars
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, NamedTuple

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
    OutcomeUnknown,
    PreviousAttemptUnknown,
    ProviderError,
    ValidationError,
    can_fail_over,
)
from smsgw.platform.observability import count, logger, observe
from smsgw.providers.base import ChunkFailure, Provider, SendOutcome, chunked
from smsgw.providers.registry import provider
from smsgw.sending.request import SendRequest
from smsgw.storage.messages import ProviderRequest, message_store, unknown_request_key

# From this many recipients, making their message ids (a SHA-256 each) while the requests' items are
# written saves more than the thread costs (about 0.2 ms).
OVERLAP_FROM = 1000


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
    request: SendRequest, kind: Kind, caller: Caller, before_provider_call: Callable[[], None]
) -> SendResult:
    """Check the blocklist and limits, then call `before_provider_call` (the idempotency intent)
    and the providers. Raises NothingSent when no provider took any recipient."""
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
            dispatch = _dispatch(request, allowed, kind)
        result = _record(request, dispatch, blocked, caller, kind)
    except NothingSent:
        _refund(charges, len(allowed))
        raise
    _refund(charges, result.counted(Status.REJECTED) + result.counted(Status.NOT_SENT))
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


# -- failover -------------------------------------------------------------------------------------


@dataclass
class Dispatch:
    outcomes: list[tuple[Provider, SendOutcome]] = field(default_factory=list)  # one per provider tried
    failed: list[ChunkFailure] = field(default_factory=list)  # not sent, final
    failovers: list[Failover] = field(default_factory=list)  # what failed before


def _dispatch(request: SendRequest, recipients: list[Recipient], kind: Kind) -> Dispatch:
    """Try the providers in order. Only recipients a provider certainly did not send (unavailable,
    or refused for an account/provider reason) move on; an uncertain outcome never does."""
    result = Dispatch()
    remaining: list[ChunkFailure] = []
    todo = recipients
    order = request.providers
    for position, name in enumerate(order):
        client = provider(name)
        cannot = {r for r in todo if client.refuses(r)}
        takes = [r for r in todo if r not in cannot]
        result.failed += [ChunkFailure([r], f.error) for f in remaining for r in f.recipients if r in cannot]
        outcome = _call(client, takes, request, kind) if takes else SendOutcome(name)
        result.outcomes.append((client, outcome))
        _count_errors(name, outcome.failures)
        last = position == len(order) - 1
        remaining = [f for f in outcome.failures if not last and can_fail_over(f.error)]
        result.failed += [
            f for f in outcome.failures if f not in remaining and not isinstance(f.error, OutcomeUnknown)
        ]
        if not remaining:
            break
        result.failovers += [Failover(name, len(f.recipients), f.error) for f in remaining]
        todo = [r for f in remaining for r in f.recipients]
        logger.warning("failing over", extra={"from": name, "recipients": len(todo)})
    return result


def _count_errors(provider_name: str, failures: list[ChunkFailure]) -> None:
    """`ProviderErrors` by kind (the error's problem: refused_request, refused_account, unavailable,
    outcome_unknown, not_attempted), one per failed request (a chunk, or a number split out of one)."""
    kinds: dict[str, int] = {}
    for failure in failures:
        kinds[str(failure.error.problem)] = kinds.get(str(failure.error.problem), 0) + 1
    for kind, failed in kinds.items():
        observe("ProviderErrors", failed, provider=provider_name, kind=kind)


def _count_messages(requests: list[ProviderRequest], refused: list[ProviderError]) -> None:
    """Per provider: messages it took (`MessagesSubmitted`), may have taken (`MessagesUnknown`) and
    certainly did not send (`MessagesFailed`)."""
    for name in dict.fromkeys(r.provider for r in requests):
        mine = [r for r in requests if r.provider == name]
        count("MessagesSubmitted", sum(len(r.numbers) for r in mine if r.status is Status.SUBMITTED), name)
        count("MessagesUnknown", sum(len(r.numbers) for r in mine if r.status is Status.UNKNOWN), name)
    for name in dict.fromkeys(e.provider for e in refused):
        count("MessagesFailed", sum(1 for e in refused if e.provider == name), name)


def _call(client: Provider, recipients: list[Recipient], request: SendRequest, kind: Kind) -> SendOutcome:
    if kind is Kind.BULK:
        return client.send(recipients, request.content, request.options)
    outcome = SendOutcome(client.name, requests=1)
    try:
        outcome.singly.append(client.send_verify(recipients[0], request.content, request.options))
    except ProviderError as error:
        outcome.failures.append(ChunkFailure(list(recipients), error))
    return outcome


def dispatch_and_describe(
    request: SendRequest, recipients: list[Recipient], request_id: str, tenant: str | None
) -> tuple[list[ProviderRequest], int]:
    """A campaign chunk: the providers' requests to record (the caller writes them with its own
    bookkeeping) and how many recipients were certainly not sent. Raises NothingSent."""
    dispatch = _dispatch(request, recipients, Kind.BULK)
    recorded = [r for client, outcome in dispatch.outcomes for r in _provider_requests(client, outcome)]
    refused = sum(len(f.recipients) for f in dispatch.failed)
    if not recorded:
        count("MessagesFailed", refused, dispatch.failed[-1].error.provider)
        raise NothingSent(dispatch.failed[-1].error, dispatch.failovers)
    segments = count_segments(request.content).count
    requests = [
        ProviderRequest(**r, request_id=request_id, kind=Kind.BULK, segments=segments, tenant=tenant)
        for r in recorded
    ]
    _partial_acceptance(requests)
    _count_messages(requests, [f.error for f in dispatch.failed for _ in f.recipients])
    return requests, refused


# -- recording ------------------------------------------------------------------------------------


def _record(
    request: SendRequest, dispatch: Dispatch, blocked: set[Recipient], caller: Caller, kind: Kind
) -> SendResult:
    """Record what a provider took (or may have taken), one item per provider request; a result for
    every recipient."""
    segments = count_segments(request.content)
    recorded = [r for client, outcome in dispatch.outcomes for r in _provider_requests(client, outcome)]
    refused = [(r, f.error) for f in dispatch.failed for r in f.recipients]
    if not recorded:  # nothing sent: the (last) provider's refusal is the answer
        error = dispatch.failed[-1].error
        count("MessagesFailed", len(refused), error.provider)
        raise NothingSent(error, dispatch.failovers)
    requests = [
        ProviderRequest(
            **r, request_id=caller.request_id, kind=kind, segments=segments.count, tenant=caller.tenant
        )
        for r in recorded
    ]
    clients = {client.name: client for client, _ in dispatch.outcomes}

    def groups() -> list[Sent]:
        return [
            Sent(
                r.provider, r.numbers, [clients[r.provider].message_id(r.key, n) for n in r.numbers], r.status
            )
            for r in requests
        ]

    if sum(len(r.numbers) for r in requests) < OVERLAP_FROM:
        stored, sent = _store(requests), groups()
    else:  # the write is mostly a wait on DynamoDB: the message ids are made meanwhile
        with ThreadPoolExecutor(max_workers=1) as writer:
            storing = writer.submit(contextvars.copy_context().run, _store, requests)
            sent = groups()
            stored = storing.result()
    warnings = stored + _partial_acceptance(requests)
    _count_messages(requests, [e for _, e in refused])
    messages = [
        MessageResult(r.e164, Status.NOT_SENT if isinstance(e, NotAttempted) else Status.REJECTED, error=e)
        for r, e in refused
    ]
    if blocked:
        messages += [MessageResult(r.e164, Status.BLOCKED) for r in request.recipients if r in blocked]
    billed = [r.billed for r in requests if r.billed is not None]
    result = SendResult(
        kind,
        messages,
        caller.request_id,
        requests[0].provider,
        segments,
        dispatch.failovers,
        warnings,
        sum(o.requests for _, o in dispatch.outcomes),
        sum(billed) if billed else None,
        sent,
    )
    logger.info(
        "send finished", extra={"kind": kind, "provider_requests": result.provider_requests, **result.summary}
    )
    return result


def _provider_requests(client: Provider, outcome: SendOutcome) -> Iterator[dict[str, Any]]:
    """What to record of one provider's outcome, request by request: a task per task id; a chunk's
    worth of per-number ids (keyed by the first); each chunk whose outcome is unknown."""
    if client.id_per_request:
        for task in outcome.tasks:
            yield {
                "provider": client.name,
                "key": task.provider_id,
                "numbers": [r.e164 for r in task.recipients],
                "status": Status.SUBMITTED,
                "task_id": task.provider_id,
                "taken": task.taken,
                "billed": task.billed,
            }
        for accepted in outcome.singly:  # a verification code: a task of one
            yield {
                "provider": client.name,
                "key": accepted.provider_id,
                "numbers": [accepted.recipient.e164],
                "status": Status.SUBMITTED,
                "task_id": accepted.provider_id,
            }
    else:
        for chunk in chunked(outcome.singly, client.batch_size):
            yield {
                "provider": client.name,
                "key": chunk[0].provider_id,  # the provider's ids are unique: its first one keys the chunk
                "numbers": [a.recipient.e164 for a in chunk],
                "status": Status.SUBMITTED,
                "provider_ids": [a.provider_id for a in chunk],
            }
    for failure in outcome.failures:
        if isinstance(failure.error, OutcomeUnknown):
            yield {
                "provider": client.name,
                "key": unknown_request_key(),
                "numbers": [r.e164 for r in failure.recipients],
                "status": Status.UNKNOWN,
            }


def _previous_attempt(kind: Kind, recipients: list[Recipient], reason: str) -> SendResult:
    logger.warning("earlier attempt with this Idempotency-Key did not finish; not sending again")
    warning = reason + "; nothing was sent again. Check the delivery status before sending anew."
    return SendResult(kind, [MessageResult(r.e164, Status.UNKNOWN) for r in recipients], warnings=[warning])


def _partial_acceptance(requests: list[ProviderRequest]) -> list[str]:
    """A warning per provider request that took fewer numbers than it was sent, and a metric."""
    warnings = []
    for r in requests:
        if r.dropped:
            count("NumbersDropped", r.dropped, r.provider)
            warnings.append(
                f"{r.provider} took {r.taken} of the {len(r.numbers)} numbers of request"
                f" {r.task_id}; the {r.dropped} it did not take become failed once the others'"
                " receipts are in (or unknown at the end of the receipt window)"
            )
    return warnings


def _store(requests: list[ProviderRequest]) -> list[str]:
    """The provider has already sent: failing the request now would invite a retry and a double send.
    So a storage failure is logged, counted and reported in the answer, not raised."""
    try:
        message_store().record(requests)
    except Exception:
        messages = sum(len(r.numbers) for r in requests)
        logger.exception("recording sent messages failed", extra={"messages": messages})
        count("RecordFailed", messages)
        return ["the messages were sent but their status could not be recorded; status lookups may 404"]
    return []
