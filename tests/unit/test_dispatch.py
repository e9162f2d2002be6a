"""Failover, certainty and bad-number isolation on in-memory providers (fakes.py): the logic of
`sending.dispatch` alone, no DynamoDB, no HTTP. The wire and the tables have their own tests."""

from collections.abc import Sequence

import pytest

from smsgw.domain.numbers import Recipient, trusted_e164
from smsgw.domain.statuses import Kind, Status
from smsgw.platform.errors import (
    NotAttempted,
    NothingSent,
    OutcomeUnknown,
    ProviderError,
    ProviderRejected,
    ProviderUnavailable,
)
from smsgw.sending.dispatch import describe, dispatch
from smsgw.sending.request import SendRequest
from tests.unit.fakes import FakeProvider, providers

NUMBERS = [trusted_e164(f"+86138001380{n:02d}") for n in range(10)]


class Routed(SendRequest):
    """A request whose route is given here rather than read from the deployment's configuration."""

    route: tuple[str, ...] = ()

    @property
    def providers(self) -> tuple[str, ...]:
        return (self.provider,) if self.provider else self.route


def request(
    order: tuple[str, ...], named: str | None = None, to: list[Recipient] = NUMBERS, content: str = "hello"
) -> SendRequest:
    routed = Routed(to, content, named, {})
    object.__setattr__(routed, "route", order)
    return routed


def always(error: ProviderError):  # type: ignore[no-untyped-def]
    return lambda chunk: error


UNAVAILABLE = ProviderUnavailable("a", "connection refused")
NO_BALANCE = ProviderRejected("a", "no balance", "109", failover_ok=True)
BAD_CONTENT = ProviderRejected("a", "sensitive words", "117")
TIMED_OUT = OutcomeUnknown("a", "read timeout")
NO_TIME = NotAttempted("a", "the deadline is too near")


def run(fakes: dict[str, FakeProvider], named: str | None = None):  # type: ignore[no-untyped-def]
    sent = dispatch(request(tuple(fakes), named), NUMBERS, Kind.BULK, fakes.__getitem__)
    return sent, describe(sent, "hello", Kind.BULK, "req-1", "tenant-1")


def test_a_provider_that_is_down_hands_every_recipient_to_the_next_in_order() -> None:
    fakes = providers(a=always(UNAVAILABLE), b=lambda chunk: None, c=lambda chunk: None)
    sent, described = run(fakes)
    assert [client.name for client, _ in sent.outcomes] == ["a", "b"]  # c never asked
    assert [(f.provider, f.recipients) for f in sent.failovers] == [("a", 10)]
    assert [r.provider for r in described.requests] == ["b"]
    assert described.requests[0].numbers == [r.e164 for r in NUMBERS]
    assert described.requests[0].status is Status.SUBMITTED and described.refused == []


def test_a_named_provider_is_the_only_one_tried() -> None:
    fakes = providers(a=always(UNAVAILABLE), b=lambda chunk: None)
    with pytest.raises(NothingSent) as raised:
        run(fakes, named="a")
    assert raised.value.error is UNAVAILABLE
    assert fakes["b"].calls == []


@pytest.mark.parametrize(
    ("error", "moves_on", "recorded_as"),
    [
        (UNAVAILABLE, True, None),  # certainly not sent: the next provider takes it
        (NO_BALANCE, True, None),  # refused for the account: another account may send
        (BAD_CONTENT, False, None),  # refused for the request: would fail anywhere
        (TIMED_OUT, False, Status.UNKNOWN),  # may have sent: never sent again
        (NO_TIME, False, None),  # not sent, and no time for another provider either
    ],
)
def test_what_moves_to_the_next_provider_is_what_the_first_certainly_did_not_send(
    error: ProviderError, moves_on: bool, recorded_as: Status | None
) -> None:
    fakes = providers(a=always(error), b=lambda chunk: None)
    if not moves_on and recorded_as is None:
        with pytest.raises(NothingSent) as raised:
            run(fakes)
        assert raised.value.error is error and fakes["b"].calls == []
        return
    _, described = run(fakes)
    assert bool(fakes["b"].calls) is moves_on
    statuses = [(r.provider, r.status) for r in described.requests]
    assert statuses == ([("b", Status.SUBMITTED)] if moves_on else [("a", recorded_as)])


def test_the_last_providers_refusal_is_the_answer_when_none_sends() -> None:
    last = ProviderUnavailable("b", "503")
    with pytest.raises(NothingSent) as raised:
        run(providers(a=always(UNAVAILABLE), b=always(last)))
    assert raised.value.error is last
    assert [(f.provider, f.recipients) for f in raised.value.failovers] == [("a", 10)]


def test_a_chunk_that_may_have_gone_is_not_failed_over_while_the_rest_is() -> None:
    """Two chunks at a: one timed out (unknown, stays with a), one refused for the account (to b)."""

    def first_times_out(chunk: Sequence[Recipient]) -> ProviderError | None:
        return TIMED_OUT if chunk[0] == NUMBERS[0] else NO_BALANCE

    fakes = providers(a=first_times_out, b=lambda chunk: None)
    fakes["a"].batch_size = 5
    _, described = run(fakes)
    assert [(r.provider, r.status, len(r.numbers)) for r in described.requests] == [
        ("a", Status.UNKNOWN, 5),
        ("b", Status.SUBMITTED, 5),
    ]
    assert fakes["b"].calls == [[r.e164 for r in NUMBERS[5:]]]


BAD = {NUMBERS[3], NUMBERS[8]}


def refuses_bad_numbers(chunk: Sequence[Recipient]) -> ProviderError | None:
    if BAD & set(chunk):
        return ProviderRejected("a", "invalid number", "1008", per_number=True)
    return None


def test_bad_numbers_are_isolated_and_the_rest_of_their_chunk_is_sent() -> None:
    fakes = providers(a=refuses_bad_numbers, b=lambda chunk: None)
    _, described = run(fakes)
    sent = [n for r in described.requests for n in r.numbers]
    assert sorted(sent) == sorted(r.e164 for r in NUMBERS if r not in BAD)
    assert sorted(r.e164 for r, _ in described.refused) == sorted(r.e164 for r in BAD)
    assert fakes["b"].calls == []  # a per-number refusal would fail anywhere
    # Halving, not a request per number: 0-9 refused; 0-4 refused, 0-2 goes, 3 refused, 4 goes;
    # 5-9 refused, 5-7 goes, 8 refused, 9 goes. (3-4 and 8-9 are never sent whole.)
    spans = [(call[0][-1], call[-1][-1]) for call in fakes["a"].calls]
    first, second = [("0", "9"), ("0", "4"), ("0", "2"), ("3", "3"), ("4", "4")], [("5", "9"), ("5", "7")]
    assert spans == [*first, *second, ("8", "8"), ("9", "9")]


def test_a_verification_code_fails_over_like_a_bulk_send() -> None:
    fakes = providers(a=always(UNAVAILABLE), b=lambda chunk: None)
    code = request(("a", "b"), to=NUMBERS[:1], content="code 123456")
    described = describe(
        dispatch(code, NUMBERS[:1], Kind.VERIFY, fakes.__getitem__), code.content, Kind.VERIFY, "r", None
    )
    assert [(r.provider, r.kind, r.numbers) for r in described.requests] == [
        ("b", Kind.VERIFY, [NUMBERS[0].e164])
    ]
    assert fakes["a"].calls == fakes["b"].calls == [[NUMBERS[0].e164]]
