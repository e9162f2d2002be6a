"""Send and verify-code: blocklist, limits, failover across providers, recording. Returns a result;
the API layer decides how to answer it."""

from collections.abc import Callable
from dataclasses import dataclass, field

from . import store as st
from .blocklist import blocklist
from .content import Segments, count_segments
from .errors import (
    Failover,
    NothingSent,
    OutcomeUnknown,
    ProviderError,
    ValidationError,
    can_fail_over,
)
from .idempotency import Caller, PreviousAttemptUnknown
from .limits import limits
from .messages import Kind, Status
from .numbers import Recipient
from .observability import count, logger
from .providers import ChunkFailure, Provider, SendOutcome
from .providers.registry import provider
from .send_request import SendRequest


@dataclass(frozen=True, slots=True)
class MessageResult:
    to: str  # E.164
    status: Status
    message_id: str | None = None
    provider: str | None = None
    error: ProviderError | None = None


@dataclass
class SendResult:
    kind: Kind
    messages: list[MessageResult]
    request_id: str | None = None
    provider: str | None = None  # the provider of the first recorded message
    segments: Segments | None = None
    failovers: list[Failover] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    provider_requests: int = 0

    def counted(self, status: Status) -> int:
        return sum(1 for m in self.messages if m.status is status)

    @property
    def summary(self) -> dict[str, int]:
        statuses = (Status.SUBMITTED, Status.UNKNOWN, Status.REJECTED, Status.BLOCKED)
        return {str(s): self.counted(s) for s in statuses}

    @property
    def complete(self) -> bool:
        """Every recipient submitted."""
        return self.counted(Status.SUBMITTED) == len(self.messages)


def send(
    request: SendRequest, kind: Kind, caller: Caller, before_provider_call: Callable[[], None]
) -> SendResult:
    """Check the blocklist and limits, then call `before_provider_call` (the idempotency intent)
    and the providers. Raises NothingSent when no provider took any recipient."""
    blocked = blocklist().blocked(request.recipients)
    allowed = [r for r in request.recipients if r not in blocked]
    if not allowed:
        raise ValidationError.single("to", "every recipient is on the blocklist")
    if kind is Kind.VERIFY:
        limits().check_verification(allowed[0])
    limits().consume_recipients(caller.api_key, len(allowed))
    try:
        before_provider_call()
    except PreviousAttemptUnknown as error:
        return _previous_attempt(kind, allowed, str(error))
    dispatch = _dispatch(request, allowed, kind)
    return _record(request, dispatch, blocked, caller.request_id, kind)


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


def _call(client: Provider, recipients: list[Recipient], request: SendRequest, kind: Kind) -> SendOutcome:
    if kind is Kind.BULK:
        return client.send(recipients, request.content, request.options)
    outcome = SendOutcome(client.name, requests=1)
    try:
        outcome.accepted.append(client.send_verify(recipients[0], request.content, request.options))
    except ProviderError as error:
        outcome.failures.append(ChunkFailure(list(recipients), error))
    return outcome


# -- recording ------------------------------------------------------------------------------------


def _record(
    request: SendRequest, dispatch: Dispatch, blocked: set[Recipient], request_id: str, kind: Kind
) -> SendResult:
    """Record what a provider took (or may have taken); a result for every recipient."""
    segments = count_segments(request.content)
    submissions: list[st.Submission] = []
    for client, outcome in dispatch.outcomes:
        for accepted in outcome.accepted:
            number = accepted.recipient.e164
            submissions.append(
                st.Submission(
                    client.message_id(accepted.provider_id, number),
                    client.name,
                    number,
                    Status.SUBMITTED,
                    accepted.provider_id,
                    request_id,
                    kind,
                    segments.count,
                )
            )
        submissions += [
            st.Submission(
                client.unknown_message_id(),
                client.name,
                r.e164,
                Status.UNKNOWN,
                None,
                request_id,
                kind,
                segments.count,
            )
            for failure in outcome.failures
            if isinstance(failure.error, OutcomeUnknown)
            for r in failure.recipients
        ]
    refused = [(r, f.error) for f in dispatch.failed for r in f.recipients]
    if not submissions:  # nothing sent: the (last) provider's refusal is the answer
        error = dispatch.failed[-1].error
        count("MessagesFailed", len(refused), error.provider)
        raise NothingSent(error, dispatch.failovers)
    warnings = _store(submissions)
    for name in {s.provider for s in submissions}:
        mine = [s for s in submissions if s.provider == name]
        count("MessagesSubmitted", sum(1 for s in mine if s.status is Status.SUBMITTED), name)
        count("MessagesUnknown", sum(1 for s in mine if s.status is Status.UNKNOWN), name)
    for error_provider in {e.provider for _, e in refused}:
        count("MessagesFailed", sum(1 for _, e in refused if e.provider == error_provider), error_provider)
    messages = [MessageResult(s.to, s.status, s.message_id, s.provider) for s in submissions]
    messages += [MessageResult(r.e164, Status.REJECTED, error=e) for r, e in refused]
    messages += [MessageResult(r.e164, Status.BLOCKED) for r in request.recipients if r in blocked]
    result = SendResult(
        kind,
        messages,
        request_id,
        submissions[0].provider,
        segments,
        dispatch.failovers,
        warnings,
        sum(o.requests for _, o in dispatch.outcomes),
    )
    logger.info(
        "send finished", extra={"kind": kind, "provider_requests": result.provider_requests, **result.summary}
    )
    return result


def _previous_attempt(kind: Kind, recipients: list[Recipient], reason: str) -> SendResult:
    logger.warning("earlier attempt with this Idempotency-Key did not finish; not sending again")
    warning = reason + "; nothing was sent again. Check the delivery status before sending anew."
    return SendResult(kind, [MessageResult(r.e164, Status.UNKNOWN) for r in recipients], warnings=[warning])


def _store(submissions: list[st.Submission]) -> list[str]:
    """The provider has already sent: failing the request now would invite a retry and a double send.
    So a storage failure is logged, counted and reported in the answer, not raised."""
    try:
        st.message_store().record(submissions)
    except Exception:
        logger.exception("recording sent messages failed", extra={"messages": len(submissions)})
        count("RecordFailed", len(submissions))
        return ["the messages were sent but their status could not be recorded; status lookups may 404"]
    return []
