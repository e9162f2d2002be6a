"""Sandbox for 230sms: `/outauth/send`, `/outauth/verifCodeSend`, and delivery receipts pushed back.

Faithful to the provider's API document (docs/providers.md): POST JSON,
md5(apikey + timestamp + apisecret) lowercase,
`timestamp` a Beijing-time string within ±2 h, answers always HTTP 200 with `status`/`code`/`msg`
(code from the global table), `taskid` printed as a bare 18-digit JSON number. Receipts: one POST per
number to the callback URL; the body `OK` means handled, anything else is retried 3 times.

Switches that make it behave like the real one on a bad day (all off by default): `bad_numbers`
(refused with 104), `shortfall` (the last numbers not taken: `validnumber` < numbers, no receipt for
them), `base_path` (e.g. "/smscoreapi"), `receipt_mobile` (the number's form in receipts, "masked" as
the document's `861234****`), `receipt_status_for` (a receipt status per number).
"""

from __future__ import annotations

import heapq
import itertools
import json
import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import urllib3

from .base import AdminHandler, SandboxServer
from .settings import Setting, number_set
from .wire import Response, md5_hex, parse_beijing_timestamp

ERROR_TEXTS = {
    101: "account of illegal",
    102: "signature failed",
    103: "request time expired or invalid format,please check timestamp parameters",
    104: "number is wrong",
    105: "the interface invocation frequency is too frequent",
    106: "the account type is not verification code",
    108: "the request parameters are invalid",
    111: "the number format is incorrect or the maximum number exceeds 1000",
    201: "no channel is configured. Please contact customer service",
    202: "balance is insufficient, please contact customer service",
    203: "account has been deactivated, please contact customer service",
    204: "ip address authentication fails. Please contact customer service",
    205: "no secret key found, please contact customer service",
    206: "the interface permission is not granted to the account",
    999: "system error",
}

SEND_PATH = "/outauth/send"
VERIFY_PATH = "/outauth/verifCodeSend"
# Near the document's example 857319414809231360, but odd and stepping by 2: above 2**53 a float
# only holds multiples of 128, so a client that parses taskid as a float always loses digits.
FIRST_TASKID = 857319414809231361
TASKID_STEP = 2
RECEIPT_TIMEOUT_SECONDS = 5.0
RECEIPT_WORKERS = 16

# Country code + number, no "00"/"+" prefix. China is checked exactly; elsewhere E.164-sized digits.
_CHINA_RE = re.compile(r"861[3-9][0-9]{9}")
_INTERNATIONAL_RE = re.compile(r"[1-9][0-9]{7,14}")
_SENDER_ID_RE = re.compile(r"[A-Za-z0-9]{2,10}")

RECEIPT_MOBILE_FORMS = ("plain", "masked", "national", "plus")
# E.164 calling codes: 1 and 7 stand alone, these are two digits, every other one is three.
_TWO_DIGIT = (20, 27, *range(30, 35), 36, 39, 40, 41, *range(43, 50), *range(51, 59), *range(60, 67))
_TWO_DIGIT_CODES = frozenset(str(code) for code in (*_TWO_DIGIT, 81, 82, 84, 86, *range(90, 96), 98))
# GSM 03.38: the default alphabet (7 bits a character) and its extension (an escape + one).
_GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENSION = frozenset("\f^{}\\[~]|€")


@dataclass(frozen=True)
class ReceiptAttempt:
    body: dict[str, str]
    attempt_no: int  # 1 = first push, 2.. = retries
    ok: bool
    at: float


@dataclass
class Task:
    taskid: int
    path: str
    mobiles: list[str]  # the numbers taken (and charged, and receipted)
    content: str
    not_taken: list[str] = field(default_factory=list)  # the `shortfall`: never sent
    segments: int = 1  # billed messages a number


def segments(content: str) -> int:
    """Billed messages for one number: GSM-7 text 160 (153 a part when longer), else UCS-2 70 (67)."""
    if all(c in _GSM_BASIC or c in _GSM_EXTENSION for c in content):
        units = len(content) + sum(1 for c in content if c in _GSM_EXTENSION)
        single, part = 160, 153
    else:
        units = len(content.encode("utf-16-le")) // 2
        single, part = 70, 67
    return 1 if units <= single else math.ceil(units / part)


def country_code(number: str) -> str:
    """The calling code at the start of a wire-form number ("86" of "8613800138000")."""
    if number[:1] in ("1", "7"):
        return number[:1]
    return number[:2] if number[:2] in _TWO_DIGIT_CODES else number[:3]


def receipt_mobile_as(number: str, form: str) -> str:
    """The number as a receipt carries it; "masked" imitates the document's `861234****` exactly:
    the first six digits, then four stars (whatever the number's length)."""
    if form == "masked":
        return number[:6] + "****"
    if form == "national":
        return number[len(country_code(number)) :]
    return "+" + number if form == "plus" else number


def _seconds(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < float("inf"):
        raise ValueError("expected a number of seconds >= 0")
    return float(value)


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError("expected true or false")
    return value


def _receipt_form(value: Any) -> str:
    if value not in RECEIPT_MOBILE_FORMS:
        raise ValueError(f"receipt_mobile must be one of {RECEIPT_MOBILE_FORMS}")
    return str(value)


def _count(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError("shortfall must be an int >= 0")
    return value


def _statuses(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) and v for k, v in value.items()
    ):
        raise TypeError("receipt_status_for must map number strings to status strings")
    return dict(value)


class _Refused(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def error_body(code: int) -> dict[str, str]:
    return {"status": str(code), "code": str(code), "msg": ERROR_TEXTS[code]}


def valid_number(number: str) -> bool:
    if number.startswith("86"):
        return _CHINA_RE.fullmatch(number) is not None
    return _INTERNATIONAL_RE.fullmatch(number) is not None


class Sms230Sandbox(SandboxServer):
    api_paths = frozenset({SEND_PATH, VERIFY_PATH})
    # A send or verify naming any of these (wire form) is refused with 104; nothing is sent.
    bad_numbers = Setting(number_set)
    # The last `shortfall` numbers of an accepted send are not taken: not counted, billed or receipted.
    shortfall = Setting(_count)
    receipt_mobile = Setting(_receipt_form)  # see receipt_mobile_as
    receipt_status_for = Setting(_statuses)  # wire number -> status pushed (over fail_numbers)
    receipt_delay = Setting(_seconds)  # from an accepted send to its receipts' first push
    receipts_dropped = Setting(_flag)  # the provider pushes no receipt at all (lost on its side)

    def __init__(
        self,
        *,
        apikey: str = "sandbox-apikey",
        apisecret: str = "sandbox-apisecret",
        balance: int = 10_000_000,
        max_numbers: int = 1000,
        max_rps: int = 100,
        time_window: timedelta = timedelta(hours=2),
        data_key: str = "data",
        verify_enabled: bool = True,
        callback_url: str | None = None,
        receipt_delay: float = 0.05,
        receipt_intervals: tuple[float, ...] = (300.0, 900.0, 1800.0),
        fail_numbers: Iterable[str] = (),
        bad_numbers: Iterable[str] = (),
        shortfall: int = 0,
        base_path: str = "",
        receipt_mobile: str = "plain",
        receipt_status_for: Mapping[str, str] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if data_key not in ("data", "Data"):
            raise ValueError("data_key must be 'data' or 'Data'")
        super().__init__(
            host=host, port=port, clock=clock, valid_fault_codes=frozenset(ERROR_TEXTS), base_path=base_path
        )
        self.bad_numbers = bad_numbers
        self.shortfall = shortfall
        self.receipt_mobile = receipt_mobile
        self.receipt_status_for = receipt_status_for or {}
        self.apikey = apikey
        self.apisecret = apisecret
        self.balance = balance
        self.max_numbers = max_numbers
        self.max_rps = max_rps
        self.time_window = time_window
        self.data_key = data_key
        self.verify_enabled = verify_enabled
        self.callback_url = callback_url
        self.receipt_delay = receipt_delay
        self.receipts_dropped = False
        self.receipt_intervals = tuple(receipt_intervals)
        self.fail_numbers: set[str] = set(fail_numbers)
        self.tasks: dict[int, Task] = {}
        self.receipt_attempts: list[ReceiptAttempt] = []
        self._lock = threading.Lock()
        self._taskids = itertools.count(FIRST_TASKID, TASKID_STEP)
        self._recent: deque[float] = deque()  # admitted request times, for the rate limit
        self._pusher = _ReceiptPusher(self)

    # -- errors / state ----------------------------------------------------------------------

    def bad_parameter(self, reason: str) -> Response:
        return Response.json(200, error_body(108))

    def error_for_code(self, code: int) -> Response:
        return Response.json(200, error_body(code))

    def state(self) -> dict[str, Any]:
        with self._lock:
            attempts = list(self.receipt_attempts)
            balance, tasks = self.balance, len(self.tasks)
        retries = len(self.receipt_intervals)
        return {
            "balance": balance,
            "tasks": tasks,
            "receipts": {
                "delivered": sum(1 for a in attempts if a.ok),
                "failed": sum(1 for a in attempts if not a.ok and a.attempt_no > retries),
                "pending": self._pusher.outstanding(),
            },
        }

    def admin_routes(self) -> dict[str, dict[str, AdminHandler]]:
        return {**super().admin_routes(), "/_sandbox/callback": {"POST": self._admin_callback}}

    def _admin_callback(self, body: Any) -> Response:
        url = body.get("url") if isinstance(body, dict) else None
        if url is not None and not isinstance(url, str):
            return Response.json(400, {"error": "url must be a string or null"})
        self.callback_url = url
        return Response.json(200, {"ok": True})

    # -- receipts ----------------------------------------------------------------------------

    def wait_receipts_idle(self, timeout: float) -> bool:
        """True once no receipt push is running or scheduled (retries included)."""
        return self._pusher.wait_idle(timeout)

    def on_stop(self) -> None:
        self._pusher.stop()
        self._pusher = _ReceiptPusher(self)  # a restarted sandbox pushes again

    # -- API ---------------------------------------------------------------------------------

    def handle_api(self, path: str, body: Any) -> Response:
        try:
            task = self._accept(path, body)
        except _Refused as refused:
            return Response.json(200, error_body(refused.code))
        # validnumber: the numbers taken (all but `shortfall`); jfts (计费条数): the messages billed.
        taken = len(task.mobiles)
        data = {"taskid": task.taskid, "validnumber": taken, "jfts": taken * task.segments}
        # json.dumps writes a Python int as bare digits, so the 18-digit taskid stays exact on
        # the wire — as in the document — and float-parsing clients lose its last digits.
        return Response.json(200, {"status": "000", "code": "000", "msg": "success", self.data_key: data})

    def _accept(self, path: str, body: Any) -> Task:
        """Check a send like the provider does, in its order; raise _Refused(code) on failure."""
        if not isinstance(body, dict):
            raise _Refused(108)
        self._authenticate(body)
        self._admit()
        if path == VERIFY_PATH and not self.verify_enabled:
            raise _Refused(106)
        content: str = body["content"]
        if not content.strip():
            raise _Refused(108)
        sender = body.get("senderid", "")
        if sender and not _SENDER_ID_RE.fullmatch(sender):
            raise _Refused(108)  # "2-10 数字或字母"
        mobiles = body["mobile"].split(",") if body["mobile"] else []
        if not mobiles or len(mobiles) > (1 if path == VERIFY_PATH else self.max_numbers):
            raise _Refused(111)
        if not all(valid_number(m) for m in mobiles):
            raise _Refused(104)
        if not self.bad_numbers.isdisjoint(mobiles):
            raise _Refused(104)  # well-formed, but refused: "number is wrong"
        taken = max(0, len(mobiles) - self.shortfall)
        parts = segments(content)
        with self._lock:
            if self.balance < taken * parts:
                raise _Refused(202)
            self.balance -= taken * parts
            task = Task(next(self._taskids), path, mobiles[:taken], content, mobiles[taken:], parts)
            self.tasks[task.taskid] = task
        self._schedule_receipts(task)
        return task

    def _authenticate(self, body: dict[str, Any]) -> None:
        for name in ("apikey", "sign", "mobile", "content"):
            if not isinstance(body.get(name), str):
                raise _Refused(108)
        for name in ("senderid", "templateid", "signname"):
            if name in body and not isinstance(body[name], str):
                raise _Refused(108)
        if "timestamp" not in body:
            raise _Refused(108)
        if body["apikey"] != self.apikey:
            raise _Refused(101)
        stamp = body["timestamp"]
        # A JSON number is "a timestamp, not a time string": the document's 103.
        when = parse_beijing_timestamp(stamp) if isinstance(stamp, str) else None
        if when is None or abs(when - self.now()) > self.time_window:
            raise _Refused(103)
        if body["sign"] != md5_hex(self.apikey + stamp + self.apisecret):
            raise _Refused(102)

    def _schedule_receipts(self, task: Task) -> None:
        url = self.callback_url
        if not url or self.receipts_dropped:
            return  # no push address configured: the provider pushes nothing
        times = self.beijing_now().strftime("%Y-%m-%d %H:%M")
        form, statuses, failing = self.receipt_mobile, self.receipt_status_for, self.fail_numbers

        def receipts() -> list[dict[str, str]]:  # made when due, as a provider would: not on the send's time
            return [
                {
                    "apikey": self.apikey,
                    "taskid": str(task.taskid),
                    "mobile": receipt_mobile_as(mobile, form),
                    "status": statuses.get(mobile, "UNDELIV" if mobile in failing else "DELIVRD"),
                    "times": times,
                }
                for mobile in task.mobiles
            ]

        self._pusher.schedule(url, receipts, len(task.mobiles), attempt_no=1, delay=self.receipt_delay)

    def _admit(self) -> None:
        """Sliding one-second window per apikey, on the sandbox clock; refused calls don't count."""
        now = self.now().timestamp()
        with self._lock:
            while self._recent and self._recent[0] <= now - 1.0:
                self._recent.popleft()
            if len(self._recent) >= self.max_rps:
                raise _Refused(105)
            self._recent.append(now)


class _ReceiptPusher:
    """Pushes receipts from a bounded pool; one scheduler thread keeps the retry timetable."""

    def __init__(self, sandbox: Sms230Sandbox) -> None:
        self._sandbox = sandbox
        self._cond = threading.Condition()
        # A heap of (due, order, url, bodies, attempt): one entry per task's receipts, made when due, so
        # that a bulk send does not leave thousands of objects for the GC to walk.
        self._due: list[tuple[float, int, str, Callable[[], list[dict[str, str]]], int]] = []
        self._seq = itertools.count()
        self._outstanding = 0  # scheduled + running
        self._stopped = False
        # Threads start only when something is pushed: most sandboxes never push.
        self._pool = ThreadPoolExecutor(RECEIPT_WORKERS, thread_name_prefix="sms230-receipt")
        self._http = urllib3.PoolManager(maxsize=RECEIPT_WORKERS, retries=False)
        self._thread: threading.Thread | None = None

    def schedule(
        self,
        url: str,
        bodies: Callable[[], list[dict[str, str]]],
        count: int,
        *,
        attempt_no: int,
        delay: float,
    ) -> None:
        """Push each of the `count` receipts `bodies()` makes once `delay` has passed."""
        with self._cond:
            if self._stopped:
                return
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="sms230-receipts", daemon=True)
                self._thread.start()
            heapq.heappush(self._due, (time.monotonic() + delay, next(self._seq), url, bodies, attempt_no))
            self._outstanding += count
            self._cond.notify_all()

    def outstanding(self) -> int:
        with self._cond:
            return self._outstanding

    def wait_idle(self, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self._outstanding == 0, timeout)

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._due.clear()  # pending retries are cancelled
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._http.clear()
        with self._cond:
            self._outstanding = 0  # cancelled pushes never ran to count themselves down
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopped and (not self._due or self._due[0][0] > time.monotonic()):
                    timeout = self._due[0][0] - time.monotonic() if self._due else None
                    self._cond.wait(timeout)
                if self._stopped:
                    return
                _, _, url, bodies, attempt_no = heapq.heappop(self._due)
            for body in bodies():
                self._pool.submit(self._push, url, body, attempt_no)

    def _push(self, url: str, body: dict[str, str], attempt_no: int) -> None:
        ok = False
        try:
            response = self._http.request(
                "POST",
                url,
                body=json.dumps(body).encode("utf-8"),
                headers={"Content-Type": "application/json"},
                timeout=RECEIPT_TIMEOUT_SECONDS,
                redirect=False,
            )
            ok = 200 <= response.status < 300 and response.data.strip() == b"OK"
        except Exception:  # connection refused, timeout, bad URL: all count as a failed push
            ok = False
        sandbox = self._sandbox
        with sandbox._lock:
            sandbox.receipt_attempts.append(ReceiptAttempt(body, attempt_no, ok, time.time()))
        intervals = sandbox.receipt_intervals
        if not ok and attempt_no <= len(intervals):
            self.schedule(url, lambda: [body], 1, attempt_no=attempt_no + 1, delay=intervals[attempt_no - 1])
        with self._cond:
            self._outstanding -= 1
            self._cond.notify_all()
