"""The cmessages client over real HTTP against the cmessages sandbox on 127.0.0.1."""

from datetime import UTC, datetime, timedelta

import pytest

from sandboxes import CMessagesSandbox
from smsgw.domain.numbers import parse_number, parse_recipients
from smsgw.platform.errors import OutcomeUnknown, ProviderError, ProviderRejected, ProviderUnavailable
from smsgw.platform.transport import Timeouts
from smsgw.providers.base import Verdict
from smsgw.providers.cmessages import CODES, CMessages, _status_code
from tests.conftest import FakeClock, client_for, closed_port_url, cm_client_for, cn_numbers

ONE = parse_number("17072440811")


def test_balance_signs_with_a_numeric_beijing_datetime(
    cm_sandbox: CMessagesSandbox, cm_client: CMessages
) -> None:
    cm_sandbox.balance = 42.5
    assert cm_client.balance() == 42.5
    (request,) = cm_sandbox.recorded("/sms/get_balance")
    assert isinstance(request.body["datetime"], int)
    assert request.headers["Content-Type"].startswith("application/json")
    assert set(request.body) == {"app_id", "datetime", "sign"}


def test_send_verify_sends_the_national_number(cm_sandbox: CMessagesSandbox, cm_client: CMessages) -> None:
    accepted = cm_client.send_verify(ONE, "Your code is 123456")
    assert accepted.recipient == ONE
    assert cm_sandbox.messages[accepted.provider_id].mobile == "17072440811"
    assert cm_sandbox.recorded("/sms/send_verify")[0].body["mobile"] == "17072440811"


def test_bulk_send_is_chunked_and_every_number_gets_its_id(cm_sandbox: CMessagesSandbox) -> None:
    client = cm_client_for(cm_sandbox, batch_size=100)
    recipients = parse_recipients(cn_numbers(250))
    outcome = client.send(recipients, "hello")
    requests = cm_sandbox.recorded("/sms/send_message")
    assert len(requests) == outcome.requests == 3
    assert sorted(len(r.body["mobile"]) for r in requests) == [50, 100, 100]
    assert not outcome.failures
    assert [a.recipient for a in outcome.accepted] == recipients
    for accepted in outcome.accepted:
        assert cm_sandbox.messages[accepted.provider_id].mobile == cm_client_for(cm_sandbox).address(
            accepted.recipient
        )


def test_too_many_numbers_halves_the_chunk_and_sends_each_number_once(cm_sandbox: CMessagesSandbox) -> None:
    cm_sandbox.max_numbers_per_request = 30
    client = cm_client_for(cm_sandbox, batch_size=100, concurrency=1)
    outcome = client.send(parse_recipients(cn_numbers(100)), "hello")
    assert len(outcome.accepted) == 100 and not outcome.failures
    # 100 refused, 50 refused, 25+25 sent; the same for the second half.
    assert len(cm_sandbox.recorded("/sms/send_message")) == outcome.requests == 7
    assert len(cm_sandbox.messages) == 100
    assert client.batch_size == 25
    client.send(parse_recipients(cn_numbers(50, start=13900000000)), "again")
    assert len(cm_sandbox.recorded("/sms/send_message")) == 9  # learned size: two requests of 25


def test_query_is_batched_and_maps_statuses_as_they_advance() -> None:
    clock = FakeClock()
    with CMessagesSandbox(clock=clock, status_delays=(10, 20), fail_numbers={"13800000001"}) as sandbox:
        client = cm_client_for(sandbox, query_batch=2, clock=clock)
        outcome = client.send(parse_recipients(cn_numbers(3)), "hello")
        ids = [a.provider_id for a in outcome.accepted]
        assert {s.status for s in client.query(ids)} == {"submitted"}
        assert len(sandbox.recorded("/sms/query")) == 2  # 3 ids in batches of 2
        clock.advance(15)
        assert {(s.status, s.provider_status) for s in client.query(ids)} == {("sending", "2")}
        clock.advance(10)
        final = {s.provider_id: s.status for s in client.query(ids)}
        assert final == {ids[0]: "delivered", ids[1]: "failed", ids[2]: "delivered"}
        assert client.query(["999999"]) == []


def test_client_clock_runs_in_beijing_time_whatever_the_instant(cm_sandbox: CMessagesSandbox) -> None:
    # The sandbox checks ±2 h of Beijing time; a client stamping UTC wall time would be 8 h off.
    assert cm_client_for(cm_sandbox, clock=lambda: datetime.now(UTC)).balance() >= 0
    stale = cm_client_for(cm_sandbox, clock=lambda: datetime.now(UTC) - timedelta(hours=3))
    with pytest.raises(ProviderRejected) as info:
        stale.balance()
    assert info.value.http_status == 422


def test_wrong_app_id_and_wrong_key(cm_sandbox: CMessagesSandbox) -> None:
    bad_id = client_for(CMessages, cm_sandbox.url, {"app_id": "nope", "app_key": cm_sandbox.app_key})
    with pytest.raises(ProviderRejected) as info:
        bad_id.balance()
    assert (info.value.http_status, info.value.failover_ok) == (401, True)
    bad_key = client_for(CMessages, cm_sandbox.url, {"app_id": cm_sandbox.app_id, "app_key": "wrong"})
    with pytest.raises(ProviderRejected) as info:
        bad_key.balance()
    assert (info.value.http_status, info.value.code) == (403, "403")


@pytest.mark.parametrize("code", sorted(CODES))
@pytest.mark.parametrize("style", ["flat", "nested", "text"])
def test_every_error_code_is_found_in_any_body_shape(code: str, style: str) -> None:
    with CMessagesSandbox(error_body_style=style) as sandbox:
        sandbox.faults.inject("error_code", code=int(code))
        with pytest.raises(ProviderError) as info:
            cm_client_for(sandbox).send_verify(ONE, "hello")
        assert info.value.code == code
        verdict = CODES[code].verdict
        # A system error may have sent: outcome unknown; every other code is a refusal.
        assert isinstance(info.value, OutcomeUnknown) is (verdict is Verdict.OUTCOME_UNKNOWN)
        may_fail_over = verdict in (Verdict.REFUSED_ACCOUNT, Verdict.BACK_OFF, Verdict.CREDENTIALS)
        assert getattr(info.value, "failover_ok", False) is may_fail_over
        assert info.value.raw  # the provider's own text is kept
        assert not sandbox.messages


def test_real_refusals_name_the_provider_code(cm_sandbox: CMessagesSandbox, cm_client: CMessages) -> None:
    cases = {"1003": "含敏感词", "1001": "x" * 501}
    for code, content in cases.items():
        outcome = cm_client.send([ONE], content)
        assert [f.error.code for f in outcome.failures] == [code]
    cm_sandbox.balance = 1
    outcome = cm_client.send(parse_recipients(cn_numbers(2)), "hello")
    assert outcome.failures[0].error.code == "1009"
    assert isinstance(outcome.failures[0].error, ProviderRejected) and outcome.failures[0].error.failover_ok
    assert not outcome.accepted and not cm_sandbox.messages


def test_http_422_and_400_without_code(cm_sandbox: CMessagesSandbox, cm_client: CMessages) -> None:
    cm_sandbox.faults.inject("error_code", code=422, times=1)
    with pytest.raises(ProviderRejected) as info:
        cm_client.balance()
    assert info.value.code == "422"


def test_foreign_numbers_go_with_their_country_code(
    cm_sandbox: CMessagesSandbox, cm_client: CMessages
) -> None:
    us = parse_number("+14155552671")
    outcome = cm_client.send([ONE, us], "hello")
    assert {a.recipient for a in outcome.accepted} == {ONE, us} and not outcome.failures
    (request,) = cm_sandbox.recorded("/sms/send_message")
    assert request.body["mobile"] == ["17072440811", "+14155552671"]  # mainland national, others +CC
    cm_client.send_verify(us, "hello")
    assert cm_sandbox.recorded("/sms/send_verify")[0].body["mobile"] == "+14155552671"


def test_partial_failure_keeps_what_was_accepted(cm_sandbox: CMessagesSandbox) -> None:
    client = cm_client_for(cm_sandbox, batch_size=100, concurrency=1)
    cm_sandbox.faults.inject("error_code", path="/sms/send_message", code=1011, times=1)
    recipients = parse_recipients(cn_numbers(300))
    outcome = client.send(recipients, "hello")
    assert len(outcome.accepted) == 200 == len(cm_sandbox.messages)
    (failure,) = outcome.failures
    assert failure.recipients == recipients[:100] and failure.error.code == "1011"


# -- faults: each ends in the right error kind, and nothing is sent twice ----------------------


def test_timeout_after_sending_is_outcome_unknown_and_not_retried(cm_sandbox: CMessagesSandbox) -> None:
    client = cm_client_for(cm_sandbox, timeouts=Timeouts(connect=1, read=0.3))
    cm_sandbox.faults.inject("timeout", seconds=1.5)
    with pytest.raises(OutcomeUnknown):
        client.send_verify(ONE, "hello")
    outcome = client.send(parse_recipients(cn_numbers(2)), "hello")
    assert isinstance(outcome.failures[0].error, OutcomeUnknown) and not outcome.accepted
    assert len(cm_sandbox.recorded("/sms/send_verify")) == 1
    assert len(cm_sandbox.recorded("/sms/send_message")) == 1
    assert len(cm_sandbox.messages) == 3  # the provider did act: the outcome really was unknown
    with pytest.raises(ProviderUnavailable):
        client.balance()  # a read is safe to retry


@pytest.mark.parametrize("kind", ["status_500", "malformed", "drop"])
def test_broken_answers_to_a_send_are_outcome_unknown(cm_sandbox: CMessagesSandbox, kind: str) -> None:
    cm_sandbox.faults.inject(kind)
    client = cm_client_for(cm_sandbox)
    with pytest.raises(OutcomeUnknown):
        client.send_verify(ONE, "hello")
    with pytest.raises(ProviderUnavailable):
        client.balance()
    assert len(cm_sandbox.recorded("/sms/send_verify")) == 1


def test_slow_answer_within_the_timeout_succeeds(cm_sandbox: CMessagesSandbox) -> None:
    cm_sandbox.faults.inject("delay", seconds=0.3)
    assert cm_client_for(cm_sandbox).send_verify(ONE, "hello").provider_id


def test_connection_refused_is_unavailable() -> None:
    client = client_for(CMessages, closed_port_url(), {"app_id": "a", "app_key": "b"})
    with pytest.raises(ProviderUnavailable):
        client.send_verify(ONE, "hello")
    outcome = client.send([ONE], "hello")
    assert isinstance(outcome.failures[0].error, ProviderUnavailable)


def test_query_reads_statuses_sent_as_strings_too() -> None:
    assert [_status_code(v) for v in (0, "2", " 3 ", 4, "x", None, True)] == [0, 2, 3, None, None, None, None]
