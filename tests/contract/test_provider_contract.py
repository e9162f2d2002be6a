"""The provider contract, over real HTTP against each provider's sandbox: what the gateway relies on
from every provider, whatever its name."""

import time
from typing import Any

import pytest

from smsgw.domain.numbers import number_key, parse_number, parse_recipients
from smsgw.domain.statuses import Status
from smsgw.platform.errors import (
    OutcomeUnknown,
    ProviderError,
    ProviderRejected,
    ProviderUnavailable,
    ValidationError,
)
from smsgw.platform.transport import Timeouts
from smsgw.providers.base import Provider, Receipts, Verdict
from tests.conftest import client_for, closed_port_url, cn_numbers
from tests.contract.conftest import Plugged, Receiver

ONE = parse_number("+8613800138000")
FOREIGN = parse_number("+14155552671")
ERROR_KINDS: dict[Verdict, tuple[type[ProviderError], bool]] = {
    Verdict.REJECTED: (ProviderRejected, False),
    Verdict.REJECTED_NUMBER: (ProviderRejected, False),
    Verdict.REFUSED_ACCOUNT: (ProviderRejected, True),
    Verdict.BACK_OFF: (ProviderRejected, True),
    Verdict.CREDENTIALS: (ProviderRejected, True),
    Verdict.UNAVAILABLE: (ProviderUnavailable, False),
    Verdict.OUTCOME_UNKNOWN: (OutcomeUnknown, False),
}


def client(plugged: Plugged, sandbox: Any, **settings: Any) -> Provider:
    return client_for(plugged.cls, sandbox.url, plugged.secret(sandbox), **settings)


def api_requests(sandbox: Any) -> list[Any]:
    return [r for r in sandbox.recorded() if r.path in sandbox.api_paths]


def test_bulk_is_cut_at_the_batch_size_and_each_recipient_accepted_once(
    plugged: Plugged, sandbox: Any
) -> None:
    provider = client(plugged, sandbox, batch_size=10)
    recipients = parse_recipients(cn_numbers(25))
    outcome = provider.send(recipients, "hello")
    assert not outcome.failures
    assert [a.recipient for a in outcome.accepted] == recipients
    assert outcome.requests == len(api_requests(sandbox)) == 3


def test_message_ids_are_unique_per_recipient_and_derivable_again(plugged: Plugged, sandbox: Any) -> None:
    provider = client(plugged, sandbox)
    outcome = provider.send(parse_recipients(cn_numbers(5)), "hello")
    ids = [provider.message_id(a.provider_id, a.recipient.e164) for a in outcome.accepted]
    assert len(set(ids)) == 5
    assert all(i.startswith(f"{provider.id_prefix}-") for i in ids)
    again = [provider.message_id(a.provider_id, a.recipient.e164) for a in outcome.accepted]
    assert again == ids
    # Each id names its provider, its request and its number: the keys of the items that hold it.
    parts = [i.removeprefix(f"{provider.id_prefix}-").rpartition("-") for i in ids]
    assert [(key, nkey) for key, _, nkey in parts] == [
        (a.provider_id, number_key(a.recipient.e164)) for a in outcome.accepted
    ]


def test_verify_code_is_one_request_for_one_recipient(plugged: Plugged, sandbox: Any) -> None:
    accepted = client(plugged, sandbox).send_verify(ONE, "code 123456")
    assert accepted.recipient == ONE and accepted.provider_id
    assert len(api_requests(sandbox)) == 1


def test_a_refused_recipient_never_reaches_the_provider(plugged: Plugged, sandbox: Any) -> None:
    provider = client(plugged, sandbox)
    if provider.refuses(FOREIGN):
        with pytest.raises(ValidationError):
            provider.send([ONE, FOREIGN], "hello")
        assert api_requests(sandbox) == []
    else:
        outcome = provider.send([ONE, FOREIGN], "hello")
        assert {a.recipient for a in outcome.accepted} == {ONE, FOREIGN}


def test_every_documented_code_is_classified_as_its_table_says(plugged: Plugged, sandbox: Any) -> None:
    provider = client(plugged, sandbox, backoff=())
    assert provider.codes, "a provider states how each of its codes is classified"
    for code, row in provider.codes.items():
        sandbox.faults.inject("error_code", code=int(code), times=1)
        with pytest.raises(ProviderError) as info:
            provider.send_verify(ONE, "hello")
        kind, failover = ERROR_KINDS[row.verdict]
        assert type(info.value) is kind, code
        assert info.value.code == code
        assert getattr(info.value, "failover_ok", False) is failover, code


def test_connection_refused_is_unavailable(plugged: Plugged) -> None:
    provider = client_for(plugged.cls, closed_port_url(), plugged.secret(plugged.sandbox()))
    with pytest.raises(ProviderUnavailable):
        provider.send_verify(ONE, "hello")


def test_a_late_answer_is_outcome_unknown_and_never_retried(plugged: Plugged, sandbox: Any) -> None:
    provider = client(plugged, sandbox, timeouts=Timeouts(connect=1, read=0.3))
    sandbox.faults.inject("timeout", seconds=2)
    outcome = provider.send(parse_recipients(cn_numbers(3)), "hello")
    assert not outcome.accepted
    assert [type(f.error) for f in outcome.failures] == [OutcomeUnknown]
    assert len(api_requests(sandbox)) == 1


def test_an_answer_proving_nothing_was_processed_is_unavailable(plugged: Plugged, sandbox: Any) -> None:
    provider = client(plugged, sandbox)
    for status in (404, 405, 413, 415, 429):
        sandbox.faults.inject("http_status", code=status, times=1)
        with pytest.raises(ProviderUnavailable):
            provider.send_verify(ONE, "hello")
    sandbox.faults.inject("http_status", code=502, times=1)  # a gateway error proves nothing
    with pytest.raises(OutcomeUnknown):
        provider.send_verify(ONE, "hello")


def test_a_refused_number_is_split_out_and_the_others_sent_once(plugged: Plugged, sandbox: Any) -> None:
    provider = client(plugged, sandbox, batch_size=10)
    recipients = parse_recipients(cn_numbers(20))
    sandbox.bad_numbers = {provider.address(recipients[13])}
    outcome = provider.send(recipients, "hello")
    assert [f.recipients for f in outcome.failures] == [[recipients[13]]]
    assert outcome.failures[0].error.problem == "refused_request"
    assert sorted(a.recipient.e164 for a in outcome.accepted) == sorted(
        r.e164 for r in recipients if r != recipients[13]
    )
    assert outcome.requests == len(api_requests(sandbox)) <= 1 + 1 + 2 * 4  # first chunk, then halving


def test_options_reach_the_wire_only_for_the_provider_that_declares_them(
    plugged: Plugged, sandbox: Any
) -> None:
    provider = client(plugged, sandbox)
    given = {"sender_id": "ab", "template_id": "ab", "sign_name": "ab", "tag": "ab"}
    provider.send_verify(ONE, "hello", given)
    (request,) = api_requests(sandbox)
    for option in provider.options:
        assert request.body[option.wire] == "ab"
    declared = {o.wire for o in provider.options}
    assert not ({"senderid", "templateid", "signname", "tag"} - declared) & set(request.body)


def test_final_statuses_arrive_as_the_provider_states(
    plugged: Plugged, sandbox: Any, receiver: Receiver
) -> None:
    provider = client(plugged, sandbox)
    (accepted,) = provider.send([ONE], "hello").accepted
    message_id = provider.message_id(accepted.provider_id, ONE.e164)
    if provider.receipts is Receipts.PUSHED:
        update = provider.parse_receipt(receiver.next())
        assert provider.message_id(update.provider_id, update.number or "") == message_id
    else:
        deadline = time.monotonic() + 5
        while (updates := provider.query([accepted.provider_id])) and updates[
            0
        ].status is not Status.DELIVERED:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        (update,) = updates
        assert update.provider_id == accepted.provider_id
    assert update.status is Status.DELIVERED and update.provider_status


def test_balance_is_a_number_where_the_provider_has_one(plugged: Plugged, sandbox: Any) -> None:
    provider = client(plugged, sandbox)
    if provider.has_balance:
        assert provider.balance() >= 0
    else:
        with pytest.raises(NotImplementedError):
            provider.balance()
