"""The metrics behind the alarms and the dashboard, as the handlers write them: CloudWatch embedded
metric format (EMF) lines on stdout, read back here with their names, units, dimensions and values.
Every line of every run is also checked against observability.METRICS (name and dimensions) and for
dimension values that could be a phone number."""

import json
import re
import time
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from smsgw.platform.observability import METRICS
from tests.conftest import cn_numbers
from tests.handlers.conftest import Invoke, Stack, body, event
from tests.handlers.test_callback import receipt_event, taskid_of
from tests.handlers.test_verification import send_code, sent_code

NAMESPACE, SERVICE = "SmsGateway", "sms-gateway"


@dataclass(frozen=True)
class Point:
    name: str
    unit: str
    dimensions: dict[str, str]
    values: list[float]


def emitted(out: str) -> list[Point]:
    """Every metric of every EMF line in `out`, each line checked against the EMF shape."""
    points = []
    for line in out.splitlines():
        if not line.startswith("{") or '"_aws"' not in line:
            continue
        document = json.loads(line)
        (directive,) = document["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == NAMESPACE
        (dimension_set,) = directive["Dimensions"]
        dimensions = {name: document[name] for name in dimension_set}
        for metric in directive["Metrics"]:
            raw = document[metric["Name"]]
            values = [float(v) for v in (raw if isinstance(raw, list) else [raw])]
            assert 1 <= len(values) <= 100
            points.append(Point(metric["Name"], metric["Unit"], dimensions, values))
    for point in points:  # what every metric must be, wherever it comes from
        assert point.name in METRICS, f"{point.name} is not in observability.METRICS"
        assert point.dimensions.get("service") == SERVICE
        assert set(point.dimensions) - {"service"} == set(METRICS[point.name]), point
        for value in point.dimensions.values():
            assert not re.search(r"[0-9]{7}", value), f"a number-like dimension value: {value}"
    return points


def find(points: list[Point], name: str, **dimensions: str) -> list[Point]:
    return [p for p in points if p.name == name and p.dimensions == {"service": SERVICE, **dimensions}]


def total(points: list[Point], name: str, **dimensions: str) -> float:
    return sum(sum(p.values) for p in find(points, name, **dimensions))


def send(invoke: Invoke, to: list[str], provider: str | None = None) -> dict[str, Any]:
    payload: dict[str, Any] = {"to": to, "content": "hello"}
    if provider:
        payload["provider"] = provider
    answer: dict[str, Any] = body(invoke("send", event("send", payload)))
    return answer


def test_a_send_counts_its_messages_and_times_its_provider_request(
    stack: Stack, invoke: Invoke, capsys: pytest.CaptureFixture[str]
) -> None:
    send(invoke, cn_numbers(3), "230sms")
    points = emitted(capsys.readouterr().out)
    assert total(points, "MessagesSubmitted", provider="230sms") == 3
    (latency,) = find(points, "ProviderLatency", provider="230sms")  # one request for three numbers
    assert latency.unit == "Milliseconds" and len(latency.values) == 1 and latency.values[0] >= 0


def test_a_105_answer_is_counted_and_the_send_retried(
    stack: Stack, invoke: Invoke, capsys: pytest.CaptureFixture[str]
) -> None:
    stack.sms230.faults.inject("error_code", code=105, times=1)
    answer = send(invoke, ["17072440811"], "230sms")
    assert answer["messages"][0]["status"] == "submitted"  # after the back-off pause
    points = emitted(capsys.readouterr().out)
    (backoff,) = find(points, "ProviderBackOffs", provider="230sms")
    assert (backoff.unit, backoff.values) == ("Count", [1.0])
    # Both requests answered: the 105 and the retry (the alarm's denominator is this sample count).
    assert sum(len(p.values) for p in find(points, "ProviderLatency", provider="230sms")) == 2
    assert total(points, "MessagesSubmitted", provider="230sms") == 1


def test_provider_errors_are_counted_by_kind_and_unknown_messages_by_provider(
    stack: Stack, invoke: Invoke, capsys: pytest.CaptureFixture[str]
) -> None:
    stack.sms230.faults.inject("error_code", code=202, times=1)  # insufficient balance: fails over
    send(invoke, ["17072440811", "13800138000"])
    stack.cm.faults.inject("timeout", seconds=2, times=1)  # read timeout on a send: outcome unknown
    send(invoke, ["13800138001"], "cmessages")
    points = emitted(capsys.readouterr().out)
    (refused,) = find(points, "ProviderErrors", provider="230sms", kind="refused_account")
    assert (refused.unit, refused.values) == ("Count", [1.0])
    assert total(points, "MessagesSubmitted", provider="cmessages") == 2  # the failover took both
    (unknown,) = find(points, "ProviderErrors", provider="cmessages", kind="outcome_unknown")
    assert unknown.values == [1.0]
    assert total(points, "MessagesUnknown", provider="cmessages") == 1


def test_the_poller_counts_final_statuses_times_deliveries_and_reads_the_balance(
    stack: Stack, invoke: Invoke, capsys: pytest.CaptureFixture[str]
) -> None:
    numbers = cn_numbers(3)
    stack.cm.fail_numbers = {numbers[1]}
    send(invoke, numbers, "cmessages")
    stack.cm.balance = 1234.5  # after the send, which it charges
    time.sleep(0.2)  # the sandbox settles its messages 0.1 s after the send
    capsys.readouterr()
    invoke("poll_status", event("poll_status"))
    points = emitted(capsys.readouterr().out)
    assert total(points, "MessagesDelivered", provider="cmessages") == 2
    assert total(points, "MessagesUndelivered", provider="cmessages") == 1
    (latency,) = find(points, "DeliveryLatency", provider="cmessages")  # both values in one line
    assert latency.unit == "Seconds" and len(latency.values) == 2
    assert all(v >= 0 for v in latency.values)
    (balance,) = find(points, "ProviderBalance", provider="cmessages")
    assert (balance.unit, balance.values) == ("None", [1234.5])
    assert find(points, "ProviderLatency", provider="cmessages")  # the query and the balance


def test_receipts_count_final_statuses_and_a_read_request_gives_the_latency(
    stack: Stack, invoke: Invoke, capsys: pytest.CaptureFixture[str]
) -> None:
    answer = send(invoke, ["17072440811", "13800138000"], "230sms")
    taskid = taskid_of(answer["messages"][0]["message_id"])
    capsys.readouterr()
    # A whole number: one write, no read, so no submission time and no latency.
    invoke("callback", receipt_event(taskid=taskid, mobile="8617072440811", status="UNDELIV"))
    points = emitted(capsys.readouterr().out)
    assert total(points, "ReceiptsStored", provider="230sms") == 1
    assert total(points, "MessagesUndelivered", provider="230sms") == 1
    assert not find(points, "DeliveryLatency", provider="230sms")
    # A masked number is matched against its request, read anyway: its submission time is known.
    invoke("callback", receipt_event(taskid=taskid, mobile="861380****"))
    points = emitted(capsys.readouterr().out)
    assert total(points, "MessagesDelivered", provider="230sms") == 1
    (latency,) = find(points, "DeliveryLatency", provider="230sms")
    assert latency.unit == "Seconds" and len(latency.values) == 1 and latency.values[0] >= 0
    # The same receipt again changes nothing: counted as repeated, not delivered twice.
    invoke("callback", receipt_event(taskid=taskid, mobile="861380****"))
    points = emitted(capsys.readouterr().out)
    assert total(points, "ReceiptsRepeated", provider="230sms") == 1
    assert not find(points, "MessagesDelivered", provider="230sms")


def test_whole_number_receipts_share_one_read_per_request_for_their_latency(
    stack: Stack,
    invoke: Invoke,
    capsys: pytest.CaptureFixture[str],
    count_dynamodb_calls: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RECEIPT_LATENCY_READ_EVERY", "3")
    numbers = ["8617072440811", "8613800138000", "8613900139000", "8613700137000"]
    answer = send(invoke, [f"+{n}" for n in numbers], "230sms")
    taskid = taskid_of(answer["messages"][0]["message_id"])
    # Warm (the token read once) with a failure: no latency asked, the count of misses untouched.
    invoke("callback", receipt_event(taskid="111111111111111111", status="UNDELIV"))
    capsys.readouterr()
    count_dynamodb_calls.clear()  # (its fixture started the container afresh: no time kept)
    for number in numbers:
        invoke("callback", receipt_event(taskid=taskid, mobile=number))
    # The first two receipts of a request this container has not seen go without; the third reads
    # its submission time (one GetItem) and keeps it, for itself and for the fourth.
    assert count_dynamodb_calls == ["UpdateItem", "UpdateItem", "UpdateItem", "GetItem", "UpdateItem"]
    points = emitted(capsys.readouterr().out)
    assert total(points, "MessagesDelivered", provider="230sms") == 4
    latencies = [v for p in find(points, "DeliveryLatency", provider="230sms") for v in p.values]
    assert len(latencies) == 2 and all(0 <= v < 600 for v in latencies)


def test_a_receipt_that_cannot_be_stored_is_counted(
    stack: Stack, invoke: Invoke, capsys: pytest.CaptureFixture[str]
) -> None:
    answer = send(invoke, ["17072440811"], "230sms")
    boto3.client("dynamodb").delete_table(TableName=stack.env["MESSAGES_TABLE"])  # every write fails
    capsys.readouterr()
    response = invoke("callback", receipt_event(taskid=taskid_of(answer["messages"][0]["message_id"])))
    assert response["statusCode"] >= 500  # the provider pushes it again
    points = emitted(capsys.readouterr().out)
    (failed,) = find(points, "ReceiptsNotStored", provider="230sms")
    assert (failed.unit, failed.values) == ("Count", [1.0])
    assert not find(points, "ReceiptsStored", provider="230sms")


def test_verification_codes_sent_and_approved(
    stack: Stack, invoke: Invoke, capsys: pytest.CaptureFixture[str]
) -> None:
    send_code(invoke)
    code = sent_code(stack)
    invoke("verify_check", event("verify_check", {"to": "+8617072440811", "code": code}))
    points = emitted(capsys.readouterr().out)
    assert [(p.unit, p.values) for p in find(points, "VerificationsSent")] == [("Count", [1.0])]
    assert [(p.unit, p.values) for p in find(points, "VerificationsApproved")] == [("Count", [1.0])]
