"""Send and verify-code: policy, limits, idempotency, failover, recording, and the answer."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import idempotency
from . import store as st
from .content import count_segments
from .errors import (
    NothingSent,
    OutcomeUnknown,
    ProviderError,
    ProviderRejected,
    ValidationError,
    can_fail_over,
    describe,
)
from .idempotency import Caller
from .limits import limits
from .numbers import CHINA, Recipient
from .observability import count, logger
from .providers import ChunkFailure, Provider, SendOutcome
from .providers.registry import provider
from .requests import SendRequest

Answer = tuple[int, dict[str, Any]]


def send_messages(body: Any, caller: Caller) -> Answer:
    request = SendRequest.parse(body, single=False)
    return _send(request, body, caller, "bulk")


def send_verification(body: Any, caller: Caller) -> Answer:
    request = SendRequest.parse(body, single=True)
    status, answer = _send(request, body, caller, "verify")
    if "messages" in answer:  # one recipient: its fields at the top level
        (message,) = answer.pop("messages")
        answer.update(message)
    return status, answer


def _send(request: SendRequest, body: Any, caller: Caller, kind: str) -> Answer:
    def work(before_provider_call: Callable[[], None]) -> Answer:
        blocked = limits().blocked(request.recipients)
        allowed = [r for r in request.recipients if r not in blocked]
        if not allowed:
            raise ValidationError.single("to", "every recipient is on the blocklist")
        if kind == "verify":
            limits().check_verification(allowed[0])
        limits().consume_recipients(caller.api_key, len(allowed))
        try:
            before_provider_call()
        except idempotency.PreviousAttemptUnknown as error:
            return _previous_attempt(allowed, str(error))
        result = _dispatch(request, allowed, kind)
        return _answer(request, result, blocked, caller.request_id, kind)

    return idempotency.once(
        kind, key=caller.idempotency_key, scope=caller.api_key, body=body, work=work, context=caller.context
    )


# -- failover -------------------------------------------------------------------------------------


@dataclass
class Dispatch:
    outcomes: list[SendOutcome] = field(default_factory=list)  # one per provider tried
    failed: list[ChunkFailure] = field(default_factory=list)  # not sent, final
    failovers: list[dict[str, Any]] = field(default_factory=list)  # what failed before


def _dispatch(request: SendRequest, recipients: list[Recipient], kind: str) -> Dispatch:
    """Try the providers in order. Only recipients a provider certainly did not send (unavailable,
    or refused for an account/provider reason) move on; an uncertain outcome never does."""
    result = Dispatch()
    remaining: list[ChunkFailure] = []
    todo = recipients
    order = request.providers
    for position, name in enumerate(order):
        client = provider(name)
        takes, cannot = _split_for(name, todo)
        result.failed += [ChunkFailure([r], f.error) for f in remaining for r in f.recipients if r in cannot]
        outcome = _call(client, takes, request, kind) if takes else SendOutcome(name)
        result.outcomes.append(outcome)
        last = position == len(order) - 1
        remaining = [f for f in outcome.failures if not last and can_fail_over(f.error)]
        result.failed += [
            f for f in outcome.failures if f not in remaining and not isinstance(f.error, OutcomeUnknown)
        ]
        if not remaining:
            break
        result.failovers += [
            {"provider": name, "recipients": len(f.recipients), "error": describe(f.error)} for f in remaining
        ]
        todo = [r for f in remaining for r in f.recipients]
        logger.warning("failing over", extra={"from": name, "recipients": len(todo)})
    return result


def _split_for(name: str, recipients: list[Recipient]) -> tuple[list[Recipient], set[Recipient]]:
    if name != "cmessages":
        return recipients, set()
    return [r for r in recipients if r.country_code == CHINA], {
        r for r in recipients if r.country_code != CHINA
    }


def _call(client: Provider, recipients: Sequence[Recipient], request: SendRequest, kind: str) -> SendOutcome:
    if kind == "bulk":
        return client.send(recipients, request.content, request.options)
    outcome = SendOutcome(client.name, requests=1)
    try:
        outcome.accepted.append(client.send_verify(recipients[0], request.content, request.options))
    except ProviderError as error:
        outcome.failures.append(ChunkFailure(list(recipients), error))
    return outcome


# -- the answer -----------------------------------------------------------------------------------


def _answer(
    request: SendRequest, result: Dispatch, blocked: set[Recipient], request_id: str, kind: str
) -> Answer:
    """Record what a provider took (or may have taken); answer for every recipient."""
    segments = count_segments(request.content).count
    submissions: list[st.Submission] = []
    for outcome in result.outcomes:
        for accepted in outcome.accepted:
            message_id = (
                st.cmessages_message_id(accepted.provider_id)
                if outcome.provider == "cmessages"
                else st.sms230_message_id(accepted.provider_id, accepted.recipient.e164)
            )
            submissions.append(
                st.Submission(
                    message_id,
                    outcome.provider,
                    accepted.recipient.e164,
                    "submitted",
                    accepted.provider_id,
                    request_id,
                    kind,
                    segments,
                )
            )
        for failure in outcome.failures:
            if isinstance(failure.error, OutcomeUnknown):
                submissions += [
                    st.Submission(
                        st.unknown_message_id(outcome.provider),
                        outcome.provider,
                        r.e164,
                        "unknown",
                        None,
                        request_id,
                        kind,
                        segments,
                    )
                    for r in failure.recipients
                ]
    refused = [(r, f.error) for f in result.failed for r in f.recipients]
    if not submissions:  # nothing sent: the (last) provider's refusal is the answer
        error = result.failed[-1].error
        count("MessagesFailed", len(refused), error.provider)
        detail = describe(error)
        if result.failovers:
            detail["failover"] = result.failovers
        raise NothingSent(_error_status(error), {"error": detail})
    warnings = _record(submissions)
    unknown = [s for s in submissions if s.status == "unknown"]
    for name in {s.provider for s in submissions}:
        count(
            "MessagesSubmitted",
            sum(1 for s in submissions if s.provider == name and s.status != "unknown"),
            name,
        )
        count("MessagesUnknown", sum(1 for s in unknown if s.provider == name), name)
    for error_provider in {e.provider for _, e in refused}:
        count("MessagesFailed", sum(1 for _, e in refused if e.provider == error_provider), error_provider)
    messages: list[dict[str, Any]] = [
        {"message_id": s.message_id, "to": s.to, "status": s.status, "provider": s.provider}
        for s in submissions
    ]
    messages += [{"to": r.e164, "status": "rejected", "error": describe(e)} for r, e in refused]
    messages += [{"to": r.e164, "status": "blocked"} for r in request.recipients if r in blocked]
    summary = {
        "submitted": len(submissions) - len(unknown),
        "unknown": len(unknown),
        "rejected": len(refused),
        "blocked": len(blocked),
    }
    answer: dict[str, Any] = {
        "provider": submissions[0].provider,
        "request_id": request_id,
        "segments": segments,
        "encoding": count_segments(request.content).encoding,
        "messages": messages,
        "summary": summary,
    }
    if result.failovers:
        answer["failover"] = result.failovers
    if warnings:
        answer["warnings"] = warnings
    logger.info(
        "send finished",
        extra={"kind": kind, "provider_requests": sum(o.requests for o in result.outcomes), **summary},
    )
    return (200 if summary["submitted"] == len(messages) else 202), answer


def _previous_attempt(recipients: list[Recipient], reason: str) -> Answer:
    logger.warning("earlier attempt with this Idempotency-Key did not finish; not sending again")
    return 202, {
        "messages": [{"to": r.e164, "status": "unknown"} for r in recipients],
        "summary": {"submitted": 0, "unknown": len(recipients), "rejected": 0, "blocked": 0},
        "warnings": [reason + "; nothing was sent again. Check the delivery status before sending anew."],
    }


def _record(submissions: list[st.Submission]) -> list[str]:
    """The provider has already sent: failing the request now would invite a retry and a double send.
    So a storage failure is logged, counted and reported in the answer, not raised."""
    try:
        st.message_store().record(submissions)
    except Exception:
        logger.exception("recording sent messages failed", extra={"messages": len(submissions)})
        count("RecordFailed", len(submissions))
        return ["the messages were sent but their status could not be recorded; status lookups may 404"]
    return []


def _error_status(error: ProviderError) -> int:
    if isinstance(error, ProviderRejected):
        return 502 if error.failover_ok else 422  # the provider's or our account's fault vs. the request's
    return 504 if isinstance(error, OutcomeUnknown) else 503
