"""The SMS-pumping guard on verification codes: velocity per number range and per source address,
daily budgets per country and in all, and the conversion guard; each refusal a 429 with its reason,
before any provider call, consuming nothing."""

import json
from typing import Any

import pytest

from smsgw.guards import limits
from smsgw.platform import config
from tests.handlers.conftest import Invoke, Stack, body, event, header


def guard(monkeypatch: pytest.MonkeyPatch, **env: str) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    config.settings.cache_clear()
    limits.limits.cache_clear()


def code_to(invoke: Invoke, number: str, ip: str = "198.51.100.7") -> dict[str, Any]:
    sample = event("verify_code", {"to": number, "content": "code {code}"})
    sample["requestContext"]["identity"]["sourceIp"] = ip
    return invoke("verify_code", sample)


def refused_for(response: dict[str, Any]) -> str:
    assert response["statusCode"] == 429, response["body"]
    assert int(header(response, "Retry-After") or 0) >= 1
    error = body(response)["error"]
    assert error["code"] == "rate_limited"
    return str(error["reason"])


def test_velocity_per_number_range(stack: Stack, invoke: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    guard(monkeypatch, OTP_PREFIX_PER_HOUR="3")
    same_range = [f"+861707244{n:04d}" for n in range(4)]
    assert [code_to(invoke, n)["statusCode"] for n in same_range[:3]] == [200, 200, 200]
    sent = len(stack.sms230.requests)
    assert refused_for(code_to(invoke, same_range[3])) == "prefix_velocity"
    assert len(stack.sms230.requests) == sent  # no provider call
    assert code_to(invoke, "+8613800138000")["statusCode"] == 200  # another range


def test_velocity_per_source_address(stack: Stack, invoke: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    guard(monkeypatch, OTP_IP_PER_HOUR="2")
    assert code_to(invoke, "+8613800138000")["statusCode"] == 200
    assert code_to(invoke, "+8617072440811")["statusCode"] == 200
    assert refused_for(code_to(invoke, "+8615900000000")) == "ip_velocity"
    assert code_to(invoke, "+8615900000000", ip="203.0.113.9")["statusCode"] == 200


def test_daily_budgets_per_country_and_in_all(
    stack: Stack, invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    guard(monkeypatch, OTP_COUNTRY_DAILY_BUDGETS="86:2", OTP_DAILY_BUDGET="3", ALLOWED_COUNTRIES="86,1")
    assert code_to(invoke, "+8613800138000")["statusCode"] == 200
    assert code_to(invoke, "+8617072440811")["statusCode"] == 200
    assert refused_for(code_to(invoke, "+8615900000000")) == "country_budget"
    assert code_to(invoke, "+14155552671")["statusCode"] == 200  # another country's budget
    assert refused_for(code_to(invoke, "+14155552672")) == "global_budget"


def test_a_range_whose_codes_are_never_approved_is_blocked(
    stack: Stack, invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    guard(monkeypatch, OTP_CONVERSION_MIN_SENDS="3", OTP_CONVERSION_MIN_RATE="0.5", ALLOWED_COUNTRIES="86,1")
    pumped = [f"+861707244{n:04d}" for n in range(5)]
    assert [code_to(invoke, n)["statusCode"] for n in pumped[:3]] == [200, 200, 200]  # none approved
    assert refused_for(code_to(invoke, pumped[3])) == "low_conversion"
    # The country's codes converted as badly (3 sent, none approved): it is blocked as well; another
    # country still gets codes.
    assert refused_for(code_to(invoke, "+8613800138000")) == "low_conversion"
    assert code_to(invoke, "+14155552671")["statusCode"] == 200


def test_a_range_whose_codes_are_approved_is_not_blocked(
    stack: Stack, invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    guard(monkeypatch, OTP_CONVERSION_MIN_SENDS="3", OTP_CONVERSION_MIN_RATE="0.5")
    for n in range(4):
        number = f"+861707244{n:04d}"
        assert code_to(invoke, number)["statusCode"] == 200
        code = stack.sms230.recorded("/outauth/verifCodeSend")[-1].body["content"].removeprefix("code ")
        check = invoke("verify_check", event("verify_check", {"to": number, "code": code}))
        assert body(check)["status"] == "approved"


def test_a_refused_code_counts_in_no_budget(
    stack: Stack, invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    guard(monkeypatch, OTP_PREFIX_PER_HOUR="1")
    stack.sms230.faults.inject("error_code", code=104, times=1)
    stack.cm.faults.inject("error_code", code=1008, times=1)
    assert code_to(invoke, "+8617072440000")["statusCode"] == 422  # refused: nothing sent
    assert code_to(invoke, "+8617072440001")["statusCode"] == 200  # the range's one code is still there


def test_refusals_are_counted_by_reason(
    stack: Stack, invoke: Invoke, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    guard(monkeypatch, OTP_DAILY_BUDGET="1")
    code_to(invoke, "+8613800138000")
    capsys.readouterr()
    refused_for(code_to(invoke, "+8617072440811"))
    metrics = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert any(m.get("reason") == "global_budget" and m.get("LimitRefusals") == [1.0] for m in metrics)


def test_a_burst_across_the_hour_edge_gets_no_more_than_the_limit(
    stack: Stack, invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    guard(monkeypatch, OTP_IP_PER_HOUR="2")
    edge = 2_000_001_600  # a whole hour since the epoch (2,000,001,600 = 555,556 x 3600)
    now = [float(edge - 10)]
    limits.limits().clock = lambda: now[0]
    assert code_to(invoke, "+8613800138000")["statusCode"] == 200
    assert code_to(invoke, "+8617072440811")["statusCode"] == 200
    now[0] = edge + 10  # a fresh hourly window, but the staggered one still holds the two
    assert refused_for(code_to(invoke, "+8615900000000")) == "ip_velocity"
    now[0] = edge + 1800 + 10  # both windows have moved on
    assert code_to(invoke, "+8615900000001")["statusCode"] == 200
