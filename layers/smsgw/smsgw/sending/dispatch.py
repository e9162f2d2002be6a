"""Failover across providers, and what to record of it: the providers are tried in order, and
only recipients a provider certainly did not send move on. Used by a send (service.py) and by a
campaign chunk (campaigns/sender.py); the providers are an argument, so a fake can stand in."""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from smsgw.domain.content import count_segments
from smsgw.domain.numbers import Recipient
from smsgw.domain.statuses import Kind, Status
from smsgw.platform.errors import Failover, NothingSent, OutcomeUnknown, ProviderError, can_fail_over
from smsgw.platform.observability import count, logger, observe
from smsgw.providers.base import ChunkFailure, Provider, SendOutcome, chunked
from smsgw.providers.registry import provider
from smsgw.sending.request import SendRequest
from smsgw.storage.items import unknown_request_key
from smsgw.storage.messages import ProviderRequest

Providers = Callable[[str], Provider]  # a provider by name


@dataclass
class Dispatch:
    outcomes: list[tuple[Provider, SendOutcome]] = field(default_factory=list)  # one per provider tried
    failed: list[ChunkFailure] = field(default_factory=list)  # not sent, final
    failovers: list[Failover] = field(default_factory=list)  # what failed before


def dispatch(
    request: SendRequest, recipients: list[Recipient], kind: Kind, providers: Providers = provider
) -> Dispatch:
    """Try the providers in order. Only recipients a provider certainly did not send (unavailable,
    or refused for an account/provider reason) move on; an uncertain outcome never does."""
    result = Dispatch()
    remaining: list[ChunkFailure] = []
    todo = recipients
    order = request.providers
    for position, name in enumerate(order):
        client = providers(name)
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


@dataclass
class Described:
    """What to record of a dispatch: one ProviderRequest per provider request that took (or may have
    taken) recipients, the recipients certainly not sent, and a warning per partial acceptance."""

    requests: list[ProviderRequest]
    refused: list[tuple[Recipient, ProviderError]]
    warnings: list[str]


def describe(dispatch: Dispatch, content: str, kind: Kind, request_id: str, tenant: str | None) -> Described:
    """The one recording path of a send and of a campaign chunk. Raises NothingSent (the last
    provider's refusal) when no provider took any recipient."""
    recorded = [r for client, outcome in dispatch.outcomes for r in provider_requests(client, outcome)]
    refused = [(r, f.error) for f in dispatch.failed for r in f.recipients]
    if not recorded:
        error = dispatch.failed[-1].error
        count("MessagesFailed", len(refused), error.provider)
        raise NothingSent(error, dispatch.failovers)
    segments = count_segments(content).count
    requests = [
        ProviderRequest(**r, request_id=request_id, kind=kind, segments=segments, tenant=tenant)
        for r in recorded
    ]
    _count_messages(requests, [e for _, e in refused])
    return Described(requests, refused, _partial_acceptance(requests))


def dispatch_and_describe(
    request: SendRequest,
    recipients: list[Recipient],
    request_id: str,
    tenant: str | None,
    providers: Providers = provider,
) -> tuple[list[ProviderRequest], int]:
    """A campaign chunk: the providers' requests to record (the caller writes them with its own
    bookkeeping) and how many recipients were certainly not sent. Raises NothingSent."""
    described = describe(
        dispatch(request, recipients, Kind.BULK, providers), request.content, Kind.BULK, request_id, tenant
    )
    return described.requests, len(described.refused)


def _call(client: Provider, recipients: list[Recipient], request: SendRequest, kind: Kind) -> SendOutcome:
    if kind is Kind.BULK:
        return client.send(recipients, request.content, request.options)
    outcome = SendOutcome(client.name, requests=1)
    try:
        outcome.singly.append(client.send_verify(recipients[0], request.content, request.options))
    except ProviderError as error:
        outcome.failures.append(ChunkFailure(list(recipients), error))
    return outcome


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


def provider_requests(client: Provider, outcome: SendOutcome) -> Iterator[dict[str, Any]]:
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
