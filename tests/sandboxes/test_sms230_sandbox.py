"""The 230sms sandbox over real HTTP, checked against the provider's API document (docs/providers.md)."""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import urllib3

from sandboxes import Sms230Sandbox
from sandboxes.sms230 import receipt_mobile_as
from tests.conftest import Receiver

BEIJING = timezone(timedelta(hours=8))
APIKEY = "sandbox-apikey"
APISECRET = "sandbox-apisecret"
SEND = "/outauth/send"
VERIFY = "/outauth/verifCodeSend"
CN = "8617072440811"
CN2 = "8616014635797"


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def stamp(when: datetime) -> str:
    return when.astimezone(BEIJING).strftime("%Y%m%d%H%M%S")


def signed(
    when: datetime | None = None, apikey: str = APIKEY, secret: str = APISECRET, **params: Any
) -> dict[str, Any]:
    ts = stamp(when or datetime.now(UTC))
    return {
        "apikey": apikey,
        "timestamp": ts,
        "sign": md5(apikey + ts + secret),
        "content": "hello",
        **params,
    }


def post(
    http: urllib3.PoolManager, url: str, body: Any, content_type: str = "application/json;charset=utf-8;"
) -> urllib3.BaseHTTPResponse:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return http.request("POST", url, body=data, headers={"Content-Type": content_type})


def code_of(response: urllib3.BaseHTTPResponse) -> str:
    assert response.status == 200  # 230sms answers every business outcome with HTTP 200
    answer = response.json()
    assert answer["status"] == answer["code"]
    return str(answer["code"])


@pytest.fixture
def sandbox() -> Iterator[Sms230Sandbox]:
    with Sms230Sandbox() as sb:
        yield sb


# -- signature: the document's worked example ---------------------------------------------


def test_document_example_is_accepted_at_its_time(http: urllib3.PoolManager) -> None:
    assert md5("230sms" + "20200410081020" + "abc") == "3a81ae8d9525c1514500d7ce8a3e527a"
    at = datetime(2020, 4, 10, 8, 10, 20, tzinfo=BEIJING)
    with Sms230Sandbox(apikey="230sms", apisecret="abc", clock=lambda: at) as sb:
        body = {
            "apikey": "230sms",
            "timestamp": "20200410081020",
            "sign": "3a81ae8d9525c1514500d7ce8a3e527a",
            "mobile": "8619800001234",
            "content": "[230sms] Your verification code is 123456",
            "senderid": "",
        }
        assert code_of(post(http, sb.url + SEND, body)) == "000"
        assert code_of(post(http, sb.url + VERIFY, body)) == "000"
        body["sign"] = md5("abc" + "20200410081020" + "230sms")  # wrong order
        assert code_of(post(http, sb.url + SEND, body)) == "102"


# -- success shapes -------------------------------------------------------------------------


def test_send_answer_and_taskid_as_bare_json_number(
    http: urllib3.PoolManager, sandbox: Sms230Sandbox
) -> None:
    response = post(http, sandbox.url + SEND, signed(mobile=f"{CN},{CN2}"))
    raw = response.data
    # The document prints taskid as a bare 18-digit number, not a string.
    assert re.search(rb'"taskid": ?[0-9]{18}[,}]', raw), raw
    answer = response.json()
    assert answer["status"] == "000"
    assert answer["code"] == "000"
    assert answer["msg"] == "success"
    data = answer["data"]
    assert data["validnumber"] == 2
    assert data["jfts"] == 2
    taskid = data["taskid"]
    assert isinstance(taskid, int)
    assert taskid > 2**53
    assert int(json.loads(raw, parse_int=float)["data"]["taskid"]) != taskid  # floats lose digits
    second = post(http, sandbox.url + SEND, signed(mobile=CN)).json()["data"]["taskid"]
    assert second > taskid
    assert sandbox.state()["balance"] == 10_000_000 - 3
    assert sandbox.state()["tasks"] == 2


def test_verif_code_send(http: urllib3.PoolManager, sandbox: Sms230Sandbox) -> None:
    body = signed(mobile=CN, content="Your code is 123456", senderid="", templateid="t1", signname="230")
    answer = post(http, sandbox.url + VERIFY, body).json()
    assert answer["code"] == "000"
    assert answer["data"]["validnumber"] == 1
    assert answer["data"]["jfts"] == 1
    assert sandbox.tasks[answer["data"]["taskid"]].mobiles == [CN]


def test_data_key_may_be_capitalised(http: urllib3.PoolManager) -> None:
    with Sms230Sandbox(data_key="Data") as sb:
        answer = post(http, sb.url + SEND, signed(mobile=CN)).json()
        assert "data" not in answer
        assert answer["Data"]["validnumber"] == 1
    with pytest.raises(ValueError, match="data_key"):
        Sms230Sandbox(data_key="DATA")


def test_other_countries_are_accepted(http: urllib3.PoolManager, sandbox: Sms230Sandbox) -> None:
    answer = post(http, sandbox.url + SEND, signed(mobile="9119800001234,447911123456")).json()
    assert answer["data"]["validnumber"] == 2


def test_a_thousand_numbers_are_accepted(http: urllib3.PoolManager, sandbox: Sms230Sandbox) -> None:
    mobiles = ",".join(f"86139{i:08d}" for i in range(1000))
    assert post(http, sandbox.url + SEND, signed(mobile=mobiles)).json()["data"]["validnumber"] == 1000


# -- codes ------------------------------------------------------------------------------


def test_wrong_apikey_is_101(http: urllib3.PoolManager, sandbox: Sms230Sandbox) -> None:
    answer = post(http, sandbox.url + SEND, signed(apikey="other", mobile=CN)).json()
    assert answer == {"status": "101", "code": "101", "msg": "account of illegal"}


def test_wrong_sign_is_102(http: urllib3.PoolManager, sandbox: Sms230Sandbox) -> None:
    assert code_of(post(http, sandbox.url + SEND, signed(secret="wrong", mobile=CN))) == "102"
    assert code_of(post(http, sandbox.url + VERIFY, signed(secret="wrong", mobile=CN))) == "102"


@pytest.mark.parametrize(
    "timestamp",
    [
        "utc-wall-time",  # 8 h behind Beijing
        "2h01m-ahead",
        "2020-04-10 08:10:20",
        "20201310081020",
        "",
    ],
)
def test_bad_timestamp_is_103(http: urllib3.PoolManager, sandbox: Sms230Sandbox, timestamp: str) -> None:
    # Clock-relative stamps are made when the test runs, not when it is collected.
    relative = {
        "utc-wall-time": lambda: datetime.now(UTC).strftime("%Y%m%d%H%M%S"),
        "2h01m-ahead": lambda: stamp(datetime.now(UTC) + timedelta(hours=2, minutes=1)),
    }
    timestamp = relative[timestamp]() if timestamp in relative else timestamp
    body = signed(mobile=CN)
    body["timestamp"] = timestamp
    body["sign"] = md5(APIKEY + timestamp + APISECRET)
    assert code_of(post(http, sandbox.url + SEND, body)) == "103"


def test_numeric_timestamp_is_103_and_inside_two_hours_is_fine(
    http: urllib3.PoolManager, sandbox: Sms230Sandbox
) -> None:
    body = signed(mobile=CN)
    body["timestamp"] = int(body["timestamp"])
    assert code_of(post(http, sandbox.url + SEND, body)) == "103"
    almost = datetime.now(UTC) - timedelta(hours=1, minutes=59)
    assert code_of(post(http, sandbox.url + SEND, signed(almost, mobile=CN))) == "000"


@pytest.mark.parametrize(
    "mobile",
    [
        "008617072440811",
        "+8617072440811",
        "8612072440811",
        "861707244081",
        "86170724408111",
        "86abc",
        f"{CN},,{CN2}",
    ],
)
def test_wrong_number_is_104(http: urllib3.PoolManager, sandbox: Sms230Sandbox, mobile: str) -> None:
    assert code_of(post(http, sandbox.url + SEND, signed(mobile=mobile))) == "104"
    assert sandbox.tasks == {}


def test_more_than_max_rps_in_one_second_is_105(http: urllib3.PoolManager, clock: Any) -> None:
    with Sms230Sandbox(clock=clock) as sb:
        codes = [code_of(post(http, sb.url + SEND, signed(clock(), mobile=CN))) for _ in range(101)]
        assert codes[:100] == ["000"] * 100
        assert codes[100] == "105"
        assert len(sb.tasks) == 100
        clock.advance(1.0)
        assert code_of(post(http, sb.url + SEND, signed(clock(), mobile=CN))) == "000"


def test_verification_disabled_is_106(http: urllib3.PoolManager) -> None:
    with Sms230Sandbox(verify_enabled=False) as sb:
        assert code_of(post(http, sb.url + VERIFY, signed(mobile=CN))) == "106"
        assert code_of(post(http, sb.url + SEND, signed(mobile=CN))) == "000"


@pytest.mark.parametrize(
    "change",
    [
        {"content": ""},
        {"content": "  "},
        {"content": None},
        {"mobile": 8617072440811},
        {"mobile": [CN]},
        {"apikey": None},
        {"sign": 5},
        {"senderid": 1069},
        {"senderid": "a"},
        {"senderid": "sender-id!"},
        {"templateid": None},
        {"signname": 1},
    ],
)
def test_invalid_parameters_are_108(
    http: urllib3.PoolManager, sandbox: Sms230Sandbox, change: dict[str, Any]
) -> None:
    body = {**signed(mobile=CN), **change}
    assert code_of(post(http, sandbox.url + SEND, body)) == "108"


def test_missing_timestamp_and_non_json_bodies_are_108(
    http: urllib3.PoolManager, sandbox: Sms230Sandbox
) -> None:
    body = signed(mobile=CN)
    del body["timestamp"]
    assert code_of(post(http, sandbox.url + SEND, body)) == "108"
    assert code_of(post(http, sandbox.url + SEND, signed(mobile=CN), content_type="text/plain")) == "108"
    assert code_of(post(http, sandbox.url + SEND, b"{oops")) == "108"
    assert code_of(post(http, sandbox.url + SEND, [signed(mobile=CN)])) == "108"
    assert code_of(post(http, sandbox.url + SEND, "hello".encode("utf-16"))) == "108"


def test_number_count_is_111(http: urllib3.PoolManager, sandbox: Sms230Sandbox) -> None:
    too_many = ",".join([CN] * 1001)
    assert code_of(post(http, sandbox.url + SEND, signed(mobile=too_many))) == "111"
    assert code_of(post(http, sandbox.url + VERIFY, signed(mobile=f"{CN},{CN2}"))) == "111"
    assert code_of(post(http, sandbox.url + SEND, signed(mobile=""))) == "111"
    assert sandbox.tasks == {}


def test_insufficient_balance_is_202_and_sends_nothing(http: urllib3.PoolManager) -> None:
    with Sms230Sandbox(balance=1) as sb:
        assert code_of(post(http, sb.url + SEND, signed(mobile=f"{CN},{CN2}"))) == "202"
        assert sb.tasks == {}
        assert sb.state()["balance"] == 1


def test_unknown_path_404_and_get_405(http: urllib3.PoolManager, sandbox: Sms230Sandbox) -> None:
    assert post(http, sandbox.url + "/outauth/balance", signed(mobile=CN)).status == 404
    assert http.request("GET", sandbox.url + SEND).status == 405


# -- receipts ----------------------------------------------------------------------------


def test_one_receipt_per_number_and_ok_stops(
    http: urllib3.PoolManager, receiver: Receiver, clock: Any
) -> None:
    clock.now = datetime(2020, 8, 4, 9, 42, 30, tzinfo=UTC)
    with Sms230Sandbox(clock=clock, callback_url=receiver.url, fail_numbers={CN2}) as sb:
        taskid = post(http, sb.url + SEND, signed(clock(), mobile=f"{CN},{CN2}")).json()["data"]["taskid"]
        assert sb.wait_receipts_idle(5)
        bodies = sorted(receiver.bodies(), key=lambda b: b["mobile"])
        assert bodies == [
            {
                "apikey": APIKEY,
                "taskid": str(taskid),
                "mobile": CN2,
                "status": "UNDELIV",
                "times": "2020-08-04 17:42",
            },
            {
                "apikey": APIKEY,
                "taskid": str(taskid),
                "mobile": CN,
                "status": "DELIVRD",
                "times": "2020-08-04 17:42",
            },
        ]
        assert all(ct == "application/json" for _, _, ct in receiver.received)
        assert [(a.attempt_no, a.ok) for a in sb.receipt_attempts] == [(1, True), (1, True)]
        assert sb.state()["receipts"] == {"delivered": 2, "failed": 0, "pending": 0}


def test_non_ok_answer_is_retried_exactly_three_times(http: urllib3.PoolManager, receiver: Receiver) -> None:
    receiver.reply = lambda body, nth: (200, b"ok, thanks")
    intervals = (0.1, 0.2, 0.3)
    with Sms230Sandbox(callback_url=receiver.url, receipt_intervals=intervals) as sb:
        post(http, sb.url + SEND, signed(mobile=CN))
        assert sb.wait_receipts_idle(5)
        time.sleep(0.4)  # nothing more comes
        arrivals = [at for at, _, _ in receiver.received]
        assert len(arrivals) == 4
        gaps = [b - a for a, b in itertools.pairwise(arrivals)]
        for gap, interval in zip(gaps, intervals, strict=True):
            assert interval - 0.02 <= gap < interval + 0.25
        assert [(a.attempt_no, a.ok) for a in sb.receipt_attempts] == [
            (1, False),
            (2, False),
            (3, False),
            (4, False),
        ]
        assert sb.state()["receipts"] == {"delivered": 0, "failed": 1, "pending": 0}


@pytest.mark.parametrize(
    ("first", "attempts"),
    [((500, b"OK"), 2), ((200, b"FAIL"), 2), ((200, b""), 2), ((200, b" OK\r\n"), 1)],
)
def test_only_a_2xx_ok_body_is_success(
    http: urllib3.PoolManager, receiver: Receiver, first: tuple[int, bytes], attempts: int
) -> None:
    receiver.reply = lambda body, nth: first if nth == 1 else (200, b"OK")
    with Sms230Sandbox(callback_url=receiver.url, receipt_intervals=(0.05, 0.05, 0.05)) as sb:
        post(http, sb.url + VERIFY, signed(mobile=CN))
        assert sb.wait_receipts_idle(5)
        assert len(receiver.received) == attempts
        assert sb.receipt_attempts[-1].ok


def test_unreachable_callback_is_retried(http: urllib3.PoolManager) -> None:
    closed = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    url = f"http://127.0.0.1:{closed.server_address[1]}/cb"
    closed.server_close()
    with Sms230Sandbox(callback_url=url, receipt_intervals=(0.01, 0.01, 0.01)) as sb:
        post(http, sb.url + SEND, signed(mobile=CN))
        assert sb.wait_receipts_idle(5)
        assert [a.ok for a in sb.receipt_attempts] == [False] * 4


def test_pushes_do_not_block_the_send_answer(http: urllib3.PoolManager, receiver: Receiver) -> None:
    def slow(body: dict[str, Any], nth: int) -> tuple[int, bytes]:
        time.sleep(1.0)  # every push held: a send waiting on them would take a second or more
        return 200, b"OK"

    receiver.reply = slow
    with Sms230Sandbox(callback_url=receiver.url, receipt_delay=0) as sb:
        started = time.monotonic()
        mobiles = ",".join(f"86139{i:08d}" for i in range(20))
        assert code_of(post(http, sb.url + SEND, signed(mobile=mobiles))) == "000"
        assert time.monotonic() - started < 0.9
        assert sb.state()["receipts"]["pending"] > 0
        assert sb.wait_receipts_idle(30)
        assert len(receiver.received) == 20


def test_stop_cancels_pending_retries(http: urllib3.PoolManager, receiver: Receiver) -> None:
    receiver.reply = lambda body, nth: (503, b"busy")
    sb = Sms230Sandbox(callback_url=receiver.url, receipt_intervals=(30, 30, 30)).start()
    post(http, sb.url + SEND, signed(mobile=CN))
    deadline = time.monotonic() + 5
    while not sb.receipt_attempts and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.monotonic()
    sb.stop()
    assert time.monotonic() - started < 10  # not the 30 s until the next retry
    assert sb.wait_receipts_idle(0)
    assert len(sb.receipt_attempts) == 1


def test_no_callback_url_no_push(http: urllib3.PoolManager, sandbox: Sms230Sandbox) -> None:
    assert code_of(post(http, sandbox.url + SEND, signed(mobile=CN))) == "000"
    assert sandbox.wait_receipts_idle(1)
    assert sandbox.receipt_attempts == []


# -- faults and admin ------------------------------------------------------------------------


def test_fault_error_code_answers_the_global_table(http: urllib3.PoolManager, sandbox: Sms230Sandbox) -> None:
    sandbox.faults.inject("error_code", code=999, times=1)
    assert post(http, sandbox.url + SEND, signed(mobile=CN)).json() == {
        "status": "999",
        "code": "999",
        "msg": "system error",
    }
    assert sandbox.tasks == {}
    with pytest.raises(ValueError, match="error_code"):
        sandbox.faults.inject("error_code", code=1009)


def test_fault_timeout_still_sends_and_pushes(http: urllib3.PoolManager, receiver: Receiver) -> None:
    with Sms230Sandbox(callback_url=receiver.url) as sb:
        sb.faults.inject("timeout", seconds=1.0, times=1)
        with pytest.raises(urllib3.exceptions.ReadTimeoutError):
            http.request("POST", sb.url + SEND, json=signed(mobile=CN), timeout=0.2)
        assert len(sb.tasks) == 1
        assert sb.wait_receipts_idle(5)
        assert [b["mobile"] for b in receiver.bodies()] == [CN]


def test_fault_malformed_and_drop(http: urllib3.PoolManager, sandbox: Sms230Sandbox) -> None:
    sandbox.faults.inject("malformed", path=SEND, times=1)
    response = post(http, sandbox.url + SEND, signed(mobile=CN))
    assert response.status == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.data)
    assert len(sandbox.tasks) == 1
    sandbox.faults.inject("drop", path=SEND, times=1)
    with pytest.raises(urllib3.exceptions.ProtocolError):
        post(http, sandbox.url + SEND, signed(mobile=CN))
    assert len(sandbox.tasks) == 1
    assert len(sandbox.requests) == 2


def test_admin_callback_and_state(
    http: urllib3.PoolManager, sandbox: Sms230Sandbox, receiver: Receiver
) -> None:
    admin = sandbox.url + "/_sandbox"
    assert http.request("POST", admin + "/callback", json={"url": receiver.url}).status == 200
    assert sandbox.callback_url == receiver.url
    assert http.request("POST", admin + "/callback", json={"url": 5}).status == 400
    post(http, sandbox.url + SEND, signed(mobile=f"{CN},{CN2}"))
    assert sandbox.wait_receipts_idle(5)
    state = http.request("GET", admin + "/state").json()
    assert state == {
        "balance": 10_000_000 - 2,
        "tasks": 1,
        "receipts": {"delivered": 2, "failed": 0, "pending": 0},
    }
    assert http.request("POST", admin + "/faults", json={"kind": "error_code", "code": 105}).status == 200
    assert code_of(post(http, sandbox.url + SEND, signed(mobile=CN))) == "105"
    assert [r["path"] for r in http.request("GET", admin + "/requests").json()] == [SEND, SEND]


# -- switches: a provider that is not having a good day -----------------------------------------

CN3 = "8613800138000"
NginxCheck = Callable[[urllib3.BaseHTTPResponse, int], None]


def test_switches_default_to_the_strict_provider(http: urllib3.PoolManager, sandbox: Sms230Sandbox) -> None:
    assert http.request("GET", sandbox.url + "/_sandbox/settings").json() == {
        "base_path": "",
        "bad_numbers": [],
        "shortfall": 0,
        "receipt_mobile": "plain",
        "receipt_status_for": {},
        "receipt_delay": 0.05,
        "receipts_dropped": False,
    }
    response = post(http, sandbox.url + "/smscoreapi" + SEND, signed(mobile=CN))
    assert (response.status, response.data) == (404, b"Not Found")  # not the HTML of a set base_path
    assert response.headers["Content-Type"].startswith("text/plain")


def test_bad_numbers_are_104_and_nothing_is_sent(http: urllib3.PoolManager, receiver: Receiver) -> None:
    with Sms230Sandbox(bad_numbers={CN2}, callback_url=receiver.url) as sb:
        assert code_of(post(http, sb.url + SEND, signed(mobile=f"{CN},{CN2}"))) == "104"
        assert code_of(post(http, sb.url + VERIFY, signed(mobile=CN2))) == "104"
        assert sb.tasks == {}
        assert sb.state()["balance"] == 10_000_000
        assert code_of(post(http, sb.url + SEND, signed(mobile=CN))) == "000"  # the others still go
        sb.bad_numbers.add(CN)  # a plain attribute too
        assert code_of(post(http, sb.url + VERIFY, signed(mobile=CN))) == "104"
        assert sb.wait_receipts_idle(5)
        assert [b["mobile"] for b in receiver.bodies()] == [CN]
        with pytest.raises(TypeError):
            sb.bad_numbers = CN  # a bare string would be a set of digits


def test_shortfall_takes_all_but_the_last_numbers(http: urllib3.PoolManager, receiver: Receiver) -> None:
    with Sms230Sandbox(shortfall=1, callback_url=receiver.url) as sb:
        data = post(http, sb.url + SEND, signed(mobile=f"{CN},{CN2},{CN3}")).json()["data"]
        assert (data["validnumber"], data["jfts"]) == (2, 2)
        task = sb.tasks[data["taskid"]]
        assert (task.mobiles, task.not_taken) == ([CN, CN2], [CN3])
        assert sb.state()["balance"] == 10_000_000 - 2
        assert sb.wait_receipts_idle(5)
        assert sorted(b["mobile"] for b in receiver.bodies()) == sorted([CN, CN2])  # none for CN3
        sb.shortfall = 5  # more than were sent: none taken, still "000"
        data = post(http, sb.url + VERIFY, signed(mobile=CN3)).json()["data"]
        assert (data["validnumber"], data["jfts"]) == (0, 0)
        assert sb.wait_receipts_idle(5)
        assert len(receiver.received) == 2
        with pytest.raises(ValueError, match="shortfall"):
            sb.shortfall = -1


def test_receipt_delay_holds_receipts_back(http: urllib3.PoolManager, receiver: Receiver) -> None:
    with Sms230Sandbox(callback_url=receiver.url) as sb:
        settings = sb.url + "/_sandbox/settings"
        assert http.request("POST", settings, json={"receipt_delay": -1}).status == 400
        assert http.request("POST", settings, json={"receipt_delay": "soon"}).status == 400
        assert http.request("POST", settings, json={"receipt_delay": 3600}).status == 200
        assert code_of(post(http, sb.url + SEND, signed(mobile=CN))) == "000"
        assert not sb.wait_receipts_idle(0.5)  # one push waiting an hour
        assert receiver.bodies() == []
        sb.receipt_delay = 0
        assert code_of(post(http, sb.url + SEND, signed(mobile=CN2))) == "000"
        deadline = time.monotonic() + 5
        while not receiver.bodies() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert [b["mobile"] for b in receiver.bodies()] == [CN2]
        assert http.request("POST", settings, json={"receipts_dropped": "yes"}).status == 400
        assert http.request("POST", settings, json={"receipts_dropped": True}).status == 200
        assert code_of(post(http, sb.url + SEND, signed(mobile=CN3))) == "000"
        time.sleep(0.3)  # with receipt_delay 0 its receipt would be in by now
        assert [b["mobile"] for b in receiver.bodies()] == [CN2]


@pytest.mark.parametrize(
    ("content", "parts"),
    [
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("€" * 80, 1),  # GSM extension characters count twice
        ("€" * 81, 2),
        ("验证码" * 23 + "好", 1),  # 70 UCS-2 characters
        ("验证码" * 23 + "好啊", 2),
        ("😀" * 36, 2),  # one emoji is two UCS-2 units
    ],
)
def test_jfts_is_validnumber_times_segments(http: urllib3.PoolManager, content: str, parts: int) -> None:
    with Sms230Sandbox(shortfall=1) as sb:
        data = post(http, sb.url + SEND, signed(mobile=f"{CN},{CN2},{CN3}", content=content)).json()["data"]
        assert (data["validnumber"], data["jfts"]) == (2, 2 * parts)
        assert sb.state()["balance"] == 10_000_000 - 2 * parts  # billed by jfts


def test_base_path_serves_the_api_only_under_it(
    http: urllib3.PoolManager, nginx_page: NginxCheck, receiver: Receiver
) -> None:
    with Sms230Sandbox(base_path="/smscoreapi/", callback_url=receiver.url) as sb:
        assert sb.base_path == "/smscoreapi"
        nginx_page(post(http, sb.url + SEND, signed(mobile=CN)), 404)
        nginx_page(post(http, sb.url + "/smscoreapi", signed(mobile=CN)), 404)
        nginx_page(post(http, sb.url + "/smscoreapi/outauth/nope", signed(mobile=CN)), 404)
        nginx_page(post(http, sb.url + "/smscoreapiX" + SEND, signed(mobile=CN)), 404)
        nginx_page(http.request("GET", sb.url + "/smscoreapi" + SEND), 405)
        assert sb.requests == []
        sb.faults.inject("error_code", path=VERIFY, code=105, times=1)  # faults match the API path
        assert code_of(post(http, sb.url + "/smscoreapi" + VERIFY, signed(mobile=CN))) == "105"
        assert code_of(post(http, sb.url + "/smscoreapi" + SEND, signed(mobile=CN))) == "000"
        assert [r.path for r in sb.recorded()] == [VERIFY, SEND]
        assert sb.wait_receipts_idle(5)
        assert len(receiver.received) == 1
        assert http.request("GET", sb.url + "/_sandbox/state").status == 200  # admin stays at the root
        sb.base_path = ""
        assert code_of(post(http, sb.url + SEND, signed(mobile=CN))) == "000"


@pytest.mark.parametrize("bad", ["smscoreapi", "/a b", "/_sandbox", "/x?y=1", 5])
def test_base_path_must_be_a_path(bad: Any) -> None:
    with pytest.raises((ValueError, TypeError), match="base_path"):
        Sms230Sandbox(base_path=bad)


@pytest.mark.parametrize("status", [401, 403, 404, 405, 413, 415, 429, 502, 503])
def test_http_status_fault_is_an_html_page_and_sends_nothing(
    http: urllib3.PoolManager, sandbox: Sms230Sandbox, nginx_page: NginxCheck, status: int
) -> None:
    admin = sandbox.url + "/_sandbox/faults"
    assert http.request("POST", admin, json={"kind": "http_status", "code": status, "times": 1}).status == 200
    nginx_page(post(http, sandbox.url + SEND, signed(mobile=CN)), status)
    assert sandbox.tasks == {}
    assert sandbox.state()["balance"] == 10_000_000
    assert code_of(post(http, sandbox.url + SEND, signed(mobile=CN))) == "000"


def test_http_status_fault_page_is_nginx_and_codes_are_checked(
    http: urllib3.PoolManager, sandbox: Sms230Sandbox
) -> None:
    sandbox.faults.inject("http_status", code=502)
    response = post(http, sandbox.url + VERIFY, signed(mobile=CN))
    assert response.data == (
        b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
        b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    )
    for code in (500, 200, None, 999):
        with pytest.raises(ValueError, match="http_status"):
            sandbox.faults.inject("http_status", code=code)
    with pytest.raises(ValueError, match="error_code"):
        sandbox.faults.inject("error_code", code=413)  # HTML statuses are not 230sms codes


@pytest.mark.parametrize(
    ("form", "expected"),
    [
        ("plain", [CN, "447911123456", "14155552671"]),
        ("masked", ["861707****", "447911****", "141555****"]),  # as the document's 861234****
        ("national", ["17072440811", "7911123456", "4155552671"]),
        ("plus", ["+" + CN, "+447911123456", "+14155552671"]),
    ],
)
def test_receipt_mobile_forms(
    http: urllib3.PoolManager, receiver: Receiver, form: str, expected: list[str]
) -> None:
    with Sms230Sandbox(receipt_mobile=form, callback_url=receiver.url) as sb:
        for number in (CN, "447911123456", "14155552671"):  # one by one: receipts in send order
            post(http, sb.url + SEND, signed(mobile=number))
            assert sb.wait_receipts_idle(5)
        assert [b["mobile"] for b in receiver.bodies()] == expected
    with pytest.raises(ValueError, match="receipt_mobile"):
        Sms230Sandbox(receipt_mobile="MASKED")


@pytest.mark.parametrize(
    ("number", "national"),
    [("79161234567", "9161234567"), ("37251234567", "51234567"), ("9119800001234", "19800001234")],
)
def test_national_form_drops_one_two_or_three_digit_country_codes(number: str, national: str) -> None:
    assert receipt_mobile_as(number, "national") == national


def test_receipt_status_for_overrides_the_status(http: urllib3.PoolManager, receiver: Receiver) -> None:
    statuses = {CN: "MBBLACK", CN2: "EXPIRED"}
    with Sms230Sandbox(fail_numbers={CN2, CN3}, receipt_status_for=statuses, callback_url=receiver.url) as sb:
        post(http, sb.url + SEND, signed(mobile=f"{CN},{CN2},{CN3}"))
        assert sb.wait_receipts_idle(5)
        assert {b["mobile"]: b["status"] for b in receiver.bodies()} == {
            CN: "MBBLACK",
            CN2: "EXPIRED",
            CN3: "UNDELIV",  # fail_numbers without an override
        }
        with pytest.raises(TypeError, match="receipt_status_for"):
            sb.receipt_status_for = {CN: 5}


def test_admin_settings_set_all_or_nothing(http: urllib3.PoolManager, sandbox: Sms230Sandbox) -> None:
    url = sandbox.url + "/_sandbox/settings"
    change = {
        "bad_numbers": [CN],
        "shortfall": 1,
        "base_path": "/smscoreapi",
        "receipt_mobile": "masked",
        "receipt_status_for": {CN2: "REJECTD"},
        "receipt_delay": 0.0,
        "receipts_dropped": False,
    }
    assert http.request("POST", url, json=change).json() == change
    assert sandbox.bad_numbers == {CN}
    assert code_of(post(http, sandbox.url + "/smscoreapi" + SEND, signed(mobile=CN))) == "104"
    data = post(http, sandbox.url + "/smscoreapi" + SEND, signed(mobile=f"{CN2},{CN3}")).json()["data"]
    assert data["validnumber"] == 1
    for bad in ({"shortfall": 0, "receipt_mobile": "hidden"}, {"shortfall": 0, "nope": 1}, [1]):
        assert http.request("POST", url, json=bad).status == 400
    assert http.request("GET", url).json() == change  # the bad calls changed nothing
