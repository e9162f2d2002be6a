"""The cmessages sandbox over real HTTP, checked against the provider's API document (docs/providers.md)."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import urllib3

from sandboxes import CMessagesSandbox

BEIJING = timezone(timedelta(hours=8))
APP_ID = "sandbox-app-id"
APP_KEY = "sandbox-app-key"

# The document's example account.
DOC_APP_ID = "dpnR9ekVE4TKmxBfuY"
DOC_APP_KEY = "22QGd7h8WRn9wkEar63xcDU8fLq4KTtv"


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def stamp(when: datetime) -> str:
    return when.astimezone(BEIJING).strftime("%Y%m%d%H%M%S")


def signed(
    when: datetime | None = None, app_id: str = APP_ID, app_key: str = APP_KEY, **params: Any
) -> dict[str, Any]:
    """A request body signed for `when` (default: now), with `datetime` as the document's number."""
    dt = stamp(when or datetime.now(UTC))
    return {"app_id": app_id, "datetime": int(dt), "sign": md5(app_id + dt + app_key), **params}


def post(
    http: urllib3.PoolManager, url: str, body: Any, content_type: str = "application/json"
) -> urllib3.BaseHTTPResponse:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return http.request("POST", url, body=data, headers={"Content-Type": content_type})


@pytest.fixture
def sandbox() -> Iterator[CMessagesSandbox]:
    with CMessagesSandbox() as sb:
        yield sb


# -- signatures: the document's worked examples ---------------------------------------------

DOC_EXAMPLES = [
    ("/sms/get_balance", "20181109231202", "dced8a6315bebab0c8df0c7bab341919", {}),
    ("/sms/get_balance", "20210818175100", "a2b987bc3d41fb8c8b838b874947fc19", {}),
    (
        "/sms/send_verify",
        "20210818180300",
        "99207211244157e2b5506903b1c26507",
        {"mobile": "17072440811", "content": "test 123456"},
    ),
    (
        # Printed with a stray character ("...fdabad..."); this is the real digest.
        "/sms/send_message",
        "20210818181900",
        "40eb8ed37a8c7bffdbad09bbfab3e220",
        {"mobile": ["17072440811", "16014635797"], "content": "test 123456"},
    ),
    ("/sms/query", "20210818182500", "e4f9e72162ef31a6e1d84916083bd160", {"id_list": ["522", "523"]}),
]


@pytest.mark.parametrize(("path", "dt", "sign", "params"), DOC_EXAMPLES)
def test_document_examples_are_accepted_at_their_time(
    http: urllib3.PoolManager, path: str, dt: str, sign: str, params: dict[str, Any]
) -> None:
    assert md5(DOC_APP_ID + dt + DOC_APP_KEY) == sign
    at = datetime.strptime(dt, "%Y%m%d%H%M%S").replace(tzinfo=BEIJING)
    with CMessagesSandbox(app_id=DOC_APP_ID, app_key=DOC_APP_KEY, clock=lambda: at) as sb:
        body = {"app_id": DOC_APP_ID, "datetime": int(dt), "sign": sign, **params}
        response = post(http, sb.url + path, body)
        assert response.status == 200, response.data
        # One minute wrong in the sign's time: refused as a signature failure.
        body["sign"] = md5(DOC_APP_ID + str(int(dt) + 100) + DOC_APP_KEY)
        assert post(http, sb.url + path, body).status == 403


def test_misprinted_document_signature_is_refused(http: urllib3.PoolManager) -> None:
    at = datetime(2021, 8, 18, 18, 19, tzinfo=BEIJING)
    with CMessagesSandbox(app_id=DOC_APP_ID, app_key=DOC_APP_KEY, clock=lambda: at) as sb:
        body = {
            "app_id": DOC_APP_ID,
            "datetime": 20210818181900,
            "sign": "40eb8ed37a8c7bffdabad09bbfab3e220",
            "mobile": ["17072440811"],
            "content": "x",
        }
        assert post(http, sb.url + "/sms/send_message", body).status == 403


# -- success shapes --------------------------------------------------------------------------


def test_get_balance(http: urllib3.PoolManager) -> None:
    with CMessagesSandbox(balance=42.5) as sb:
        response = post(http, sb.url + "/sms/get_balance", signed())
        assert response.status == 200
        assert response.json() == {"balance": 42.5}
        assert response.headers["Content-Type"].startswith("application/json")


def test_send_verify_answers_one_id_and_charges(http: urllib3.PoolManager, sandbox: CMessagesSandbox) -> None:
    response = post(
        http, sandbox.url + "/sms/send_verify", signed(mobile="17072440811", content="code 123456")
    )
    assert response.status == 200
    answer = response.json()
    assert set(answer) == {"id", "mobile"}
    assert isinstance(answer["id"], str)
    assert answer["id"].isdigit()
    assert answer["mobile"] == "17072440811"
    assert sandbox.messages[answer["id"]].content == "code 123456"
    assert post(http, sandbox.url + "/sms/get_balance", signed()).json() == {"balance": 9999}


def test_send_message_answers_one_id_per_mobile_in_order(
    http: urllib3.PoolManager, sandbox: CMessagesSandbox
) -> None:
    mobiles = ["17072440811", "16014635797", "13800138000"]
    response = post(http, sandbox.url + "/sms/send_message", signed(mobile=mobiles, content="hello"))
    assert response.status == 200
    answer = response.json()
    assert [item["mobile"] for item in answer] == mobiles
    ids = [int(item["id"]) for item in answer]
    assert ids == sorted(set(ids))
    assert all(isinstance(item["id"], str) for item in answer)
    assert sandbox.state()["balance"] == 10000 - 3
    assert sandbox.state()["messages"] == 3


def test_datetime_may_be_a_14_digit_string(http: urllib3.PoolManager, sandbox: CMessagesSandbox) -> None:
    body = signed()
    body["datetime"] = str(body["datetime"])
    assert post(http, sandbox.url + "/sms/get_balance", body).status == 200


@pytest.mark.parametrize("bad", [20210818175100.0, True, None, "2021-08-18 17:51:00", "2021081817510", [1]])
def test_datetime_of_another_shape_is_a_bad_parameter(
    http: urllib3.PoolManager, sandbox: CMessagesSandbox, bad: Any
) -> None:
    body = signed()
    body["datetime"] = bad
    assert post(http, sandbox.url + "/sms/get_balance", body).status == 422


# -- statuses ------------------------------------------------------------------------------


def test_status_goes_waiting_sending_then_success_or_failed(http: urllib3.PoolManager, clock: Any) -> None:
    with CMessagesSandbox(clock=clock, status_delays=(10, 20), fail_numbers={"13800138000"}) as sb:
        sent = post(
            http,
            sb.url + "/sms/send_message",
            signed(clock(), mobile=["17072440811", "13800138000"], content="hi"),
        ).json()
        ids = [item["id"] for item in sent]

        def statuses() -> list[int]:
            query = signed(clock(), id_list=[*ids, "999999"])
            answer = post(http, sb.url + "/sms/query", query).json()
            assert [item["id"] for item in answer] == ids  # the unknown id is left out
            assert [item["mobile"] for item in answer] == ["17072440811", "13800138000"]
            return [item["message_status"] for item in answer]

        assert statuses() == [1, 1]
        clock.advance(10)
        assert statuses() == [2, 2]
        clock.advance(10)
        assert statuses() == [0, 3]
        assert sb.state()["by_status"] == {"0": 1, "1": 0, "2": 0, "3": 1}


def test_query_with_real_clock_and_short_delays(http: urllib3.PoolManager) -> None:
    with CMessagesSandbox(status_delays=(0.05, 0.1)) as sb:
        sent = post(http, sb.url + "/sms/send_verify", signed(mobile="17072440811", content="hi")).json()
        time.sleep(0.15)
        answer = post(http, sb.url + "/sms/query", signed(id_list=[sent["id"]])).json()
        assert answer == [{"id": sent["id"], "mobile": "17072440811", "message_status": 0}]


# -- authentication ------------------------------------------------------------------------


def test_wrong_app_id_is_401(http: urllib3.PoolManager, sandbox: CMessagesSandbox) -> None:
    body = signed(app_id="someone-else")
    response = post(http, sandbox.url + "/sms/get_balance", body)
    assert response.status == 401
    assert response.json()["code"] == 401


def test_locked_account_is_401(http: urllib3.PoolManager) -> None:
    with CMessagesSandbox(locked=True) as sb:
        assert post(http, sb.url + "/sms/get_balance", signed()).status == 401


def test_wrong_sign_is_403(http: urllib3.PoolManager, sandbox: CMessagesSandbox) -> None:
    assert post(http, sandbox.url + "/sms/get_balance", signed(app_key="not-the-key")).status == 403


def test_utc_time_instead_of_beijing_time_is_refused(
    http: urllib3.PoolManager, sandbox: CMessagesSandbox
) -> None:
    utc_wall = datetime.now(UTC).strftime("%Y%m%d%H%M%S")  # the Lambda mistake: 8 h behind Beijing
    body = {"app_id": APP_ID, "datetime": int(utc_wall), "sign": md5(APP_ID + utc_wall + APP_KEY)}
    assert post(http, sandbox.url + "/sms/get_balance", body).status == 422
    # Just inside the 2-hour window is still fine.
    almost = datetime.now(UTC) - timedelta(hours=1, minutes=59)
    assert post(http, sandbox.url + "/sms/get_balance", signed(almost)).status == 200


# -- error codes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params", "code"),
    [
        ("/sms/send_verify", {"mobile": "17072440811", "content": "x" * 501}, 1001),
        ("/sms/send_verify", {"mobile": "17072440811", "content": ""}, 1002),
        ("/sms/send_message", {"mobile": ["17072440811"], "content": "   "}, 1002),
        ("/sms/send_verify", {"mobile": "17072440811", "content": "这是敏感内容"}, 1003),
        ("/sms/send_message", {"mobile": ["17072440811"] * 101, "content": "hi"}, 1006),
        ("/sms/send_message", {"mobile": [], "content": "hi"}, 1007),
        ("/sms/send_verify", {"mobile": "", "content": "hi"}, 1007),
        ("/sms/send_verify", {"mobile": "+8612072440811", "content": "hi"}, 1008),
        ("/sms/send_verify", {"mobile": "12072440811", "content": "hi"}, 1008),
        ("/sms/send_message", {"mobile": ["17072440811", "1707244081"], "content": "hi"}, 1008),
        ("/sms/send_message", {"mobile": ["8617072440811"], "content": "hi"}, 1008),
    ],
)
def test_error_codes(
    http: urllib3.PoolManager, sandbox: CMessagesSandbox, path: str, params: dict[str, Any], code: int
) -> None:
    response = post(http, sandbox.url + path, signed(**params))
    assert response.status == 400
    assert response.json()["code"] == code
    assert sandbox.messages == {}


def test_content_at_the_limit_is_accepted(http: urllib3.PoolManager, sandbox: CMessagesSandbox) -> None:
    body = signed(mobile=["17072440811"] * 100, content="好" * 500)
    assert post(http, sandbox.url + "/sms/send_message", body).status == 200


def test_insufficient_balance_sends_nothing(http: urllib3.PoolManager) -> None:
    with CMessagesSandbox(balance=1) as sb:
        body = signed(mobile=["17072440811", "16014635797"], content="hi")
        response = post(http, sb.url + "/sms/send_message", body)
        assert response.status == 400
        assert response.json() == {"code": 1009, "message": "余额不足"}
        assert sb.messages == {}
        assert sb.state()["balance"] == 1


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/sms/send_verify", {"content": "hi"}),
        ("/sms/send_verify", {"mobile": ["17072440811"], "content": "hi"}),
        ("/sms/send_verify", {"mobile": "17072440811", "content": 5}),
        ("/sms/send_message", {"mobile": "17072440811", "content": "hi"}),
        ("/sms/send_message", {"mobile": [17072440811], "content": "hi"}),
        ("/sms/query", {"id_list": "522"}),
        ("/sms/query", {"id_list": [522]}),
        ("/sms/query", {}),
    ],
)
def test_missing_or_ill_typed_parameters_are_422(
    http: urllib3.PoolManager, sandbox: CMessagesSandbox, path: str, params: dict[str, Any]
) -> None:
    assert post(http, sandbox.url + path, signed(**params)).status == 422


def test_body_must_be_json_with_json_content_type(
    http: urllib3.PoolManager, sandbox: CMessagesSandbox
) -> None:
    url = sandbox.url + "/sms/get_balance"
    assert post(http, url, signed(), content_type="text/plain").status == 422
    assert post(http, url, b"app_id=x", content_type="application/x-www-form-urlencoded").status == 422
    assert post(http, url, b"{not json", content_type="application/json").status == 422
    assert post(http, url, [signed()]).status == 422
    assert post(http, url, signed(), content_type="application/json; charset=utf-8").status == 200


def test_error_body_styles(http: urllib3.PoolManager) -> None:
    body = signed(mobile=["17072440811"], content="")
    with CMessagesSandbox(error_body_style="nested") as sb:
        response = post(http, sb.url + "/sms/send_message", body)
        assert response.status == 400
        assert response.json() == {"error": {"code": "1002", "msg": "内容为空"}}
    with CMessagesSandbox(error_body_style="text") as sb:
        response = post(http, sb.url + "/sms/send_message", body)
        assert response.status == 400
        assert response.headers["Content-Type"].startswith("text/plain")
        assert response.data.decode() == "1002 内容为空"
    with pytest.raises(ValueError, match="error_body_style"):
        CMessagesSandbox(error_body_style="xml")


def test_unknown_path_is_404_and_other_methods_405(
    http: urllib3.PoolManager, sandbox: CMessagesSandbox
) -> None:
    assert post(http, sandbox.url + "/sms/nope", signed()).status == 404
    assert http.request("GET", sandbox.url + "/sms/get_balance").status == 405
    assert len(sandbox.requests) == 0  # neither reached the provider API


# -- faults ------------------------------------------------------------------------------


def test_requests_are_recorded(http: urllib3.PoolManager, sandbox: CMessagesSandbox) -> None:
    post(http, sandbox.url + "/sms/get_balance", signed())
    post(http, sandbox.url + "/sms/send_verify", signed(mobile="17072440811", content="hi"))
    assert [r.path for r in sandbox.requests] == ["/sms/get_balance", "/sms/send_verify"]
    assert sandbox.requests[1].body["mobile"] == "17072440811"
    assert sandbox.requests[1].headers["Content-Type"] == "application/json"
    assert sandbox.requests[0].at <= sandbox.requests[1].at


def test_fault_delay(http: urllib3.PoolManager, sandbox: CMessagesSandbox) -> None:
    # Held 2 s once; the next answers at once (well under the hold, however loaded the machine).
    sandbox.faults.inject("delay", seconds=2.0, times=1)
    started = time.monotonic()
    assert post(http, sandbox.url + "/sms/get_balance", signed()).status == 200
    assert time.monotonic() - started >= 2.0
    started = time.monotonic()
    assert post(http, sandbox.url + "/sms/get_balance", signed()).status == 200
    assert time.monotonic() - started < 1.5


def test_fault_gather_holds_requests_until_enough_wait_together(
    http: urllib3.PoolManager, sandbox: CMessagesSandbox
) -> None:
    gather = sandbox.faults.inject("gather", together=3, seconds=4, times=3)
    statuses: list[int] = []

    def call() -> None:
        statuses.append(post(http, sandbox.url + "/sms/get_balance", signed()).status)

    callers = [threading.Thread(target=call) for _ in range(3)]
    callers[0].start()
    time.sleep(0.2)
    assert statuses == []  # one alone waits
    for caller in callers[1:]:
        caller.start()
    for caller in callers:
        caller.join(5)
    assert statuses == [200, 200, 200] and not gather.scattered
    # Too few: the hold gives up after its seconds, answers anyway, and says so.
    gather = sandbox.faults.inject("gather", together=2, seconds=0.2, times=1)
    assert post(http, sandbox.url + "/sms/get_balance", signed()).status == 200
    assert gather.scattered
    for wrong in ({"together": 1, "seconds": 1}, {"together": 2}):
        with pytest.raises(ValueError, match="gather"):
            sandbox.faults.inject("gather", **wrong)


def test_fault_timeout_happens_after_the_side_effects(
    http: urllib3.PoolManager, sandbox: CMessagesSandbox
) -> None:
    sandbox.faults.inject("timeout", seconds=1.0, path="/sms/send_verify")
    with pytest.raises(urllib3.exceptions.ReadTimeoutError):
        http.request(
            "POST",
            sandbox.url + "/sms/send_verify",
            body=json.dumps(signed(mobile="17072440811", content="hi")).encode(),
            headers={"Content-Type": "application/json"},
            timeout=0.2,
        )
    assert len(sandbox.messages) == 1
    assert sandbox.state()["balance"] == 9999


def test_stop_interrupts_a_timeout_fault(http: urllib3.PoolManager) -> None:
    sb = CMessagesSandbox().start()
    sb.faults.inject("timeout")  # default 30 s
    errors: list[Exception] = []

    def call() -> None:
        try:
            post(http, sb.url + "/sms/get_balance", signed())
        except Exception as exc:  # the connection is dropped on stop
            errors.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    time.sleep(0.2)
    started = time.monotonic()
    sb.stop()
    caller.join(5)
    assert time.monotonic() - started < 3
    assert not caller.is_alive()
    assert len(errors) == 1


def test_fault_status_500(http: urllib3.PoolManager, sandbox: CMessagesSandbox) -> None:
    sandbox.faults.inject("status_500")
    response = post(http, sandbox.url + "/sms/send_verify", signed(mobile="17072440811", content="hi"))
    assert response.status == 500
    assert response.data == b"Internal Server Error"
    assert sandbox.messages == {}
    assert len(sandbox.requests) == 1


def test_fault_malformed_processes_then_garbles(http: urllib3.PoolManager, sandbox: CMessagesSandbox) -> None:
    sandbox.faults.inject("malformed", times=1)
    response = post(http, sandbox.url + "/sms/send_verify", signed(mobile="17072440811", content="hi"))
    assert response.status == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.data)
    assert len(sandbox.messages) == 1


@pytest.mark.parametrize(
    ("code", "status"),
    [(1009, 400), (1011, 400), (1010, 400), (401, 401), (403, 403), (422, 422), (500, 500)],
)
def test_fault_error_code(
    http: urllib3.PoolManager, sandbox: CMessagesSandbox, code: int, status: int
) -> None:
    sandbox.faults.inject("error_code", code=code)
    response = post(http, sandbox.url + "/sms/send_verify", signed(mobile="17072440811", content="hi"))
    assert response.status == status
    assert response.json()["code"] == code
    assert sandbox.messages == {}


def test_fault_error_code_must_be_documented(sandbox: CMessagesSandbox) -> None:
    with pytest.raises(ValueError, match="error_code"):
        sandbox.faults.inject("error_code", code=1004)
    with pytest.raises(ValueError, match="unknown fault"):
        sandbox.faults.inject("explode")


def test_fault_drop(http: urllib3.PoolManager, sandbox: CMessagesSandbox) -> None:
    sandbox.faults.inject("drop", times=1)
    with pytest.raises(urllib3.exceptions.ProtocolError):
        post(http, sandbox.url + "/sms/send_verify", signed(mobile="17072440811", content="hi"))
    assert sandbox.messages == {}
    assert len(sandbox.requests) == 1
    assert post(http, sandbox.url + "/sms/get_balance", signed()).status == 200


def test_fault_times_path_and_clear(http: urllib3.PoolManager, sandbox: CMessagesSandbox) -> None:
    sandbox.faults.inject("status_500", path="/sms/get_balance", times=2)
    balance, query = sandbox.url + "/sms/get_balance", sandbox.url + "/sms/query"
    assert post(http, query, signed(id_list=[])).status == 200  # other path: unaffected
    assert [post(http, balance, signed()).status for _ in range(3)] == [500, 500, 200]
    sandbox.faults.inject("status_500")
    assert [post(http, query, signed(id_list=[])).status for _ in range(3)] == [500, 500, 500]
    sandbox.faults.clear()
    assert post(http, query, signed(id_list=[])).status == 200


# -- admin endpoints -----------------------------------------------------------------------


def test_admin_endpoints(http: urllib3.PoolManager, sandbox: CMessagesSandbox) -> None:
    admin = sandbox.url + "/_sandbox"
    fault = {"kind": "error_code", "code": 1011, "path": "/sms/send_verify", "times": 1}
    assert http.request("POST", admin + "/faults", json=fault).status == 200
    response = post(http, sandbox.url + "/sms/send_verify", signed(mobile="17072440811", content="hi"))
    assert response.json()["code"] == 1011
    assert (
        post(http, sandbox.url + "/sms/send_verify", signed(mobile="17072440811", content="hi")).status == 200
    )

    assert http.request("POST", admin + "/faults", json={"kind": "status_500"}).status == 200
    assert post(http, sandbox.url + "/sms/get_balance", signed()).status == 500
    assert http.request("DELETE", admin + "/faults").status == 200
    assert post(http, sandbox.url + "/sms/get_balance", signed()).status == 200
    assert http.request("POST", admin + "/faults", json={"kind": "nope"}).status == 400

    logged = http.request("GET", admin + "/requests").json()
    assert [r["path"] for r in logged] == [
        "/sms/send_verify",
        "/sms/send_verify",
        "/sms/get_balance",
        "/sms/get_balance",
    ]
    assert logged[0]["body"]["mobile"] == "17072440811"

    state = http.request("GET", admin + "/state").json()
    assert state["balance"] == 9999
    assert state["messages"] == 1
    assert sum(state["by_status"].values()) == 1
    assert http.request("GET", admin + "/nope").status == 404
    assert http.request("GET", admin + "/faults").status == 405
    assert len(sandbox.requests) == 4  # admin calls are not provider calls


def test_start_stop_and_free_port() -> None:
    first, second = CMessagesSandbox().start(), CMessagesSandbox().start()
    try:
        assert first.url.startswith("http://127.0.0.1:")
        assert first.url != second.url
    finally:
        first.stop()
        second.stop()
    with pytest.raises(RuntimeError):
        _ = first.url


# -- switches: a provider that is not having a good day -----------------------------------------

NginxCheck = Callable[[urllib3.BaseHTTPResponse, int], None]


def test_switches_default_to_the_strict_provider(
    http: urllib3.PoolManager, sandbox: CMessagesSandbox
) -> None:
    assert http.request("GET", sandbox.url + "/_sandbox/settings").json() == {
        "base_path": "",
        "bad_numbers": [],
        "balance": 10000.0,
        "status_delays": [0.2, 0.4],
    }
    settings = sandbox.url + "/_sandbox/settings"
    for bad in ([5, 1], [1], "soon", [-1, 2]):
        assert http.request("POST", settings, json={"status_delays": bad}).status == 400
    assert http.request("POST", settings, json={"status_delays": [30, 60]}).json()["status_delays"] == [
        30,
        60,
    ]
    assert sandbox.status_delays == (30.0, 60.0)


def test_bad_numbers_are_1008_and_nothing_is_sent(http: urllib3.PoolManager) -> None:
    with CMessagesSandbox(bad_numbers={"16014635797", "+14155552671"}) as sb:
        for path, mobile in [
            ("/sms/send_message", ["17072440811", "16014635797"]),
            ("/sms/send_message", ["+14155552671"]),
            ("/sms/send_verify", "16014635797"),
        ]:
            response = post(http, sb.url + path, signed(mobile=mobile, content="hi"))
            assert (response.status, response.json()["code"]) == (400, 1008)
        assert sb.messages == {}
        assert sb.state()["balance"] == 10000
        assert (
            post(http, sb.url + "/sms/send_verify", signed(mobile="17072440811", content="hi")).status == 200
        )
        sb.bad_numbers = ["17072440811"]
        assert (
            post(http, sb.url + "/sms/send_verify", signed(mobile="17072440811", content="hi")).status == 400
        )
        assert http.request("POST", sb.url + "/_sandbox/settings", json={"bad_numbers": []}).status == 200
        assert (
            post(http, sb.url + "/sms/send_verify", signed(mobile="17072440811", content="hi")).status == 200
        )
        assert len(sb.messages) == 2


def test_numbers_with_a_country_code_are_echoed_as_sent(
    http: urllib3.PoolManager, sandbox: CMessagesSandbox
) -> None:
    mobiles = ["+14155552671", "+447911123456", "+8617072440811", "17072440811", "+123456789012345"]
    answer = post(http, sandbox.url + "/sms/send_message", signed(mobile=mobiles, content="hi")).json()
    assert [item["mobile"] for item in answer] == mobiles
    assert len({item["id"] for item in answer}) == 5
    assert all(item["id"].isdigit() for item in answer)
    verify = post(
        http, sandbox.url + "/sms/send_verify", signed(mobile="+5511987654321", content="hi")
    ).json()
    assert verify["mobile"] == "+5511987654321"
    queried = post(http, sandbox.url + "/sms/query", signed(id_list=[answer[0]["id"], verify["id"]])).json()
    assert [item["mobile"] for item in queried] == ["+14155552671", "+5511987654321"]


@pytest.mark.parametrize(
    "mobile",
    [
        "+86",
        "+861707244081",  # +86 is checked as a mainland number, not as any E.164 number
        "+8612072440811",
        "+1234567",  # 7 digits: too short
        "+1234567890123456",  # 16: too long
        "+0123456789",
        "+1 4155552671",
        "0014155552671",
        "++14155552671",
    ],
)
def test_wrong_international_numbers_are_1008(
    http: urllib3.PoolManager, sandbox: CMessagesSandbox, mobile: str
) -> None:
    response = post(http, sandbox.url + "/sms/send_verify", signed(mobile=mobile, content="hi"))
    assert (response.status, response.json()["code"]) == (400, 1008)
    assert sandbox.messages == {}


@pytest.mark.parametrize("value", ["n/a", None, "10.5", {"amount": 5}, [], True])
def test_balance_may_be_any_json_value(http: urllib3.PoolManager, value: Any) -> None:
    with CMessagesSandbox(balance=value) as sb:
        assert post(http, sb.url + "/sms/get_balance", signed()).json() == {"balance": value}
        # Not a number: it neither limits nor is charged.
        assert (
            post(http, sb.url + "/sms/send_verify", signed(mobile="17072440811", content="hi")).status == 200
        )
        assert sb.state()["balance"] == value
        sb.balance = 0.5
        response = post(http, sb.url + "/sms/send_verify", signed(mobile="17072440811", content="hi"))
        assert (response.status, response.json()["code"]) == (400, 1009)


def test_balance_over_the_admin_endpoint(http: urllib3.PoolManager, sandbox: CMessagesSandbox) -> None:
    url = sandbox.url + "/_sandbox/settings"
    assert http.request("POST", url, json={"balance": "n/a"}).json()["balance"] == "n/a"
    assert post(http, sandbox.url + "/sms/get_balance", signed()).data == b'{"balance": "n/a"}'
    assert http.request("POST", url, json={"balance": 3, "nope": 1}).status == 400
    assert sandbox.balance == "n/a"
    with pytest.raises(TypeError):
        sandbox.balance = object()


@pytest.mark.parametrize("status", [401, 403, 413, 429, 503])
def test_http_status_fault_is_html_not_the_documented_json(
    http: urllib3.PoolManager, sandbox: CMessagesSandbox, nginx_page: NginxCheck, status: int
) -> None:
    sandbox.faults.inject("http_status", code=status, path="/sms/send_message")
    nginx_page(
        post(http, sandbox.url + "/sms/send_message", signed(mobile=["17072440811"], content="hi")), status
    )
    assert sandbox.messages == {}
    assert sandbox.state()["balance"] == 10000
    assert post(http, sandbox.url + "/sms/get_balance", signed()).status == 200  # other paths unaffected


def test_base_path_works_here_too(http: urllib3.PoolManager, nginx_page: NginxCheck) -> None:
    with CMessagesSandbox(base_path="/api") as sb:
        nginx_page(post(http, sb.url + "/sms/get_balance", signed()), 404)
        assert post(http, sb.url + "/api/sms/get_balance", signed()).json() == {"balance": 10000}
