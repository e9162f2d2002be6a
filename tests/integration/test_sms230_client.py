"""The 230sms client over real HTTP against the 230sms sandbox on 127.0.0.1."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from sandboxes import Sms230Sandbox
from smsgw.domain.numbers import parse_number, parse_recipients
from smsgw.platform.errors import OutcomeUnknown, ProviderError, ProviderRejected, ProviderUnavailable
from smsgw.platform.transport import Timeouts
from smsgw.providers.base import Verdict
from smsgw.providers.sms230 import CODES, Sms230, loads_exact, parse_receipt
from tests.conftest import client_for, closed_port_url, cn_numbers, sms230_client_for

ONE = parse_number("+8619800001234")


def test_bulk_send_2500_numbers_takes_three_requests(
    sms230_sandbox: Sms230Sandbox, sms230_client: Sms230
) -> None:
    recipients = parse_recipients(cn_numbers(2500))
    outcome = sms230_client.send(recipients, "hello")
    requests = sms230_sandbox.recorded("/outauth/send")
    assert len(requests) == outcome.requests == 3
    assert sorted(r.body["mobile"].count(",") + 1 for r in requests) == [500, 1000, 1000]
    assert requests[0].body["mobile"].startswith("86138")
    assert isinstance(requests[0].body["timestamp"], str)
    assert [a.recipient for a in outcome.accepted] == recipients and not outcome.failures
    taskids = {a.provider_id for a in outcome.accepted}
    assert taskids == {str(t) for t in sms230_sandbox.tasks}


def test_taskid_survives_exactly_as_18_digits(sms230_sandbox: Sms230Sandbox, sms230_client: Sms230) -> None:
    accepted = sms230_client.send_verify(ONE, "code 123456")
    (taskid,) = sms230_sandbox.tasks
    assert taskid > 2**53
    assert accepted.provider_id == str(taskid)
    assert len(accepted.provider_id) == 18
    assert str(int(float(taskid))) != str(taskid) or taskid % 2**10 == 0  # a float would lose digits


def test_capitalised_data_key_is_read() -> None:
    with Sms230Sandbox(data_key="Data") as sandbox:
        accepted = sms230_client_for(sandbox).send_verify(ONE, "code 1")
        assert accepted.provider_id == str(next(iter(sandbox.tasks)))


def test_verify_sends_one_number_and_extras_only_when_given(
    sms230_sandbox: Sms230Sandbox, sms230_client: Sms230
) -> None:
    sms230_client.send_verify(ONE, "code 1")
    sms230_client.send_verify(ONE, "code 2", {"sender_id": "1069", "template_id": "T1", "sign_name": "ACME"})
    plain, extras = (r.body for r in sms230_sandbox.recorded("/outauth/verifCodeSend"))
    assert plain["mobile"] == "8619800001234"
    assert not {"senderid", "templateid", "signname"} & set(plain)
    assert (extras["senderid"], extras["templateid"], extras["signname"]) == ("1069", "T1", "ACME")


@pytest.mark.parametrize("code", sorted(CODES))
def test_every_global_error_code_is_classified(sms230_sandbox: Sms230Sandbox, code: str) -> None:
    client = sms230_client_for(sms230_sandbox, backoff=())
    sms230_sandbox.faults.inject("error_code", code=int(code))
    with pytest.raises(ProviderError) as info:
        client.send_verify(ONE, "hello")
    assert info.value.code == code
    verdict = CODES[code].verdict
    # A system error may have sent: outcome unknown; every other code is a refusal.
    assert isinstance(info.value, OutcomeUnknown) is (verdict is Verdict.OUTCOME_UNKNOWN)
    may_fail_over = verdict in (Verdict.REFUSED_ACCOUNT, Verdict.BACK_OFF, Verdict.CREDENTIALS)
    assert getattr(info.value, "failover_ok", False) is may_fail_over
    assert not sms230_sandbox.tasks


def test_real_refusals(sms230_sandbox: Sms230Sandbox) -> None:
    cases = [
        (client_for(Sms230, sms230_sandbox.url, {"apikey": "nobody", "apisecret": "x"}), "101"),
        (
            client_for(Sms230, sms230_sandbox.url, {"apikey": sms230_sandbox.apikey, "apisecret": "wrong"}),
            "102",
        ),
        (sms230_client_for(sms230_sandbox, clock=lambda: datetime.now(UTC) + timedelta(hours=3)), "103"),
    ]
    for client, code in cases:
        with pytest.raises(ProviderRejected) as info:
            client.send_verify(ONE, "hello")
        assert info.value.code == code
    sms230_sandbox.verify_enabled = False
    with pytest.raises(ProviderRejected, match="verification") as info:
        sms230_client_for(sms230_sandbox).send_verify(ONE, "hello")
    assert info.value.code == "106"
    sms230_sandbox.balance = 1
    outcome = sms230_client_for(sms230_sandbox).send(parse_recipients(cn_numbers(2)), "hello")
    assert outcome.failures[0].error.code == "202" and not outcome.accepted


def test_over_the_sandbox_cap_is_111(sms230_sandbox: Sms230Sandbox) -> None:
    sms230_sandbox.max_numbers = 10
    outcome = sms230_client_for(sms230_sandbox, batch_size=20).send(parse_recipients(cn_numbers(20)), "hi")
    assert outcome.failures[0].error.code == "111"


def test_chunk_size_never_exceeds_the_documented_1000(sms230_sandbox: Sms230Sandbox) -> None:
    assert sms230_client_for(sms230_sandbox, batch_size=5000).batch_size == 1000


def test_rate_limit_105_backs_off_and_retries_the_same_request(sms230_sandbox: Sms230Sandbox) -> None:
    client = sms230_client_for(sms230_sandbox, backoff=(0.01, 0.01, 0.01))
    sms230_sandbox.faults.inject("error_code", code=105, times=2)
    accepted = client.send_verify(ONE, "hello")
    assert len(sms230_sandbox.recorded("/outauth/verifCodeSend")) == 3
    assert len(sms230_sandbox.tasks) == 1 and accepted.provider_id


def test_persistent_105_gives_up_after_the_backoff(sms230_sandbox: Sms230Sandbox) -> None:
    client = sms230_client_for(sms230_sandbox, backoff=(0.01, 0.01))
    sms230_sandbox.faults.inject("error_code", code=105)
    outcome = client.send([ONE], "hello")
    assert outcome.requests == 3 == len(sms230_sandbox.recorded())
    assert outcome.failures[0].error.code == "105"


def test_pacing_keeps_a_burst_within_100_per_second(sms230_sandbox: Sms230Sandbox) -> None:
    # 150 one-number requests from 8 threads: unpaced they would exceed the sandbox's 100/s window
    # (the unpaced case is the test below). A loaded machine can still bunch a few arrivals; the
    # 105 back-off absorbs those, so allow at most a handful of retried requests.
    client = sms230_client_for(sms230_sandbox, batch_size=1, concurrency=8, backoff=(0.2, 0.4))
    outcome = client.send(parse_recipients(cn_numbers(150)), "hello")
    assert not outcome.failures
    assert len(sms230_sandbox.tasks) == 150
    assert outcome.requests - 150 <= 5


def test_without_pacing_the_same_burst_is_rate_limited(sms230_sandbox: Sms230Sandbox) -> None:
    client = sms230_client_for(
        sms230_sandbox, batch_size=1, concurrency=8, backoff=(), requests_per_second=10_000
    )
    outcome = client.send(parse_recipients(cn_numbers(300)), "hello")
    assert {f.error.code for f in outcome.failures} == {"105"}


def test_timeout_after_sending_is_outcome_unknown_and_not_retried(sms230_sandbox: Sms230Sandbox) -> None:
    client = sms230_client_for(sms230_sandbox, timeouts=Timeouts(connect=1, read=0.3))
    sms230_sandbox.faults.inject("timeout", seconds=1.5)
    with pytest.raises(OutcomeUnknown):
        client.send_verify(ONE, "hello")
    outcome = client.send(parse_recipients(cn_numbers(3)), "hello")
    assert isinstance(outcome.failures[0].error, OutcomeUnknown)
    assert len(sms230_sandbox.recorded()) == 2
    assert len(sms230_sandbox.tasks) == 2  # the provider accepted both: retrying would double-send


@pytest.mark.parametrize("kind", ["status_500", "malformed", "drop"])
def test_broken_answers_are_outcome_unknown(sms230_sandbox: Sms230Sandbox, kind: str) -> None:
    sms230_sandbox.faults.inject(kind)
    with pytest.raises(OutcomeUnknown):
        sms230_client_for(sms230_sandbox).send_verify(ONE, "hello")
    assert len(sms230_sandbox.recorded()) == 1


def test_slow_answer_within_the_timeout_succeeds(sms230_sandbox: Sms230Sandbox) -> None:
    sms230_sandbox.faults.inject("delay", seconds=0.3)
    assert sms230_client_for(sms230_sandbox).send_verify(ONE, "hello").provider_id


def test_connection_refused_is_unavailable() -> None:
    client = client_for(Sms230, closed_port_url(), {"apikey": "a", "apisecret": "b"})
    with pytest.raises(ProviderUnavailable):
        client.send_verify(ONE, "hello")


def test_balance_is_not_supported() -> None:
    client = client_for(Sms230, "http://127.0.0.1:9", {"apikey": "a", "apisecret": "b"})
    assert client.has_balance is False
    with pytest.raises(NotImplementedError):
        client.balance()


# -- receipts ------------------------------------------------------------------------------------


def test_receipt_with_a_numeric_taskid_keeps_every_digit() -> None:
    receipt = parse_receipt(
        b'{"apikey":"230sms","taskid":857319414809231361,"mobile":"8613800000000","status":"DELIVRD",'
        b'"times":"2020-08-04 17:42"}'
    )
    assert receipt.taskid == "857319414809231361" and receipt.delivered
    assert json.loads('{"t": 857319414809231361}', parse_float=float)["t"] == 857319414809231361
    assert loads_exact('{"t": 857319414809231361}') == {"t": "857319414809231361"}


def test_receipt_as_the_document_prints_it() -> None:
    receipt = parse_receipt(
        '{"apikey":"230sms","taskid":"857319414809231360","mobile":"861234****","status":"UNDELIV",'
        '"times":"2020-08-04 17:42"}'
    )
    assert (receipt.taskid, receipt.status, receipt.delivered) == ("857319414809231360", "UNDELIV", False)


@pytest.mark.parametrize("body", ["not json", "[]", '{"apikey": "k", "taskid": "1"}'])
def test_bad_receipts_are_refused(body: str) -> None:
    with pytest.raises(ValueError):
        parse_receipt(body)


def test_receipt_exactly_as_the_document_prints_it_with_its_trailing_comma() -> None:
    raw = """{
    "apikey":"230sms",
    "taskid":"857319414809231360",
    "mobile":"861234****",
    "status":"DELIVRD",
    "times":"2020-08-04 17:42",
}"""
    receipt = parse_receipt(raw.encode())
    assert (receipt.taskid, receipt.status, receipt.times) == (
        "857319414809231360",
        "DELIVRD",
        "2020-08-04 17:42",
    )
