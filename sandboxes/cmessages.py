"""Sandbox for cmessages (财信CM): `/sms/get_balance`, `/sms/send_verify`, `/sms/send_message`, `/sms/query`.

Faithful to the provider's API document (docs/providers.md): POST JSON,
md5(app_id + datetime + app_key) lowercase,
`datetime` in Beijing time, HTTP status tells the outcome (200/422/400/401/403/500), 400 carries one
of the Error Codes. No push: delivery status is polled through `/sms/query`.

Numbers: the document shows 11-digit mainland numbers; the vendor's SDKs also send `+` and a country
code ("+86 counts as China"), so `+86` with a mainland number and other E.164 numbers are taken too,
and echoed exactly as sent. Switches (off by default): `bad_numbers` (refused with 1008), `balance`
set to anything JSON (answered as is; a non-number balance neither limits nor is charged).
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from .base import SandboxServer
from .settings import Setting, number_set
from .wire import Response, md5_hex, parse_beijing_timestamp

STATUS_SUCCESS = 0
STATUS_WAITING = 1
STATUS_SENDING = 2
STATUS_FAILED = 3

ERROR_TEXTS = {
    1001: "内容过长",
    1002: "内容为空",
    1003: "内容敏感",
    1006: "号码太多",
    1007: "号码为空",
    1008: "号码异常",
    1009: "余额不足",
    1010: "账号锁定",
    1011: "系统错误",
}
# The Status Code section; these answer with the HTTP status itself.
HTTP_TEXTS = {
    401: "未授权，app id 无效或者被锁定",
    403: "签名失败",
    422: "请求参数错误",
    500: "服务器出错",
}
ERROR_BODY_STYLES = ("flat", "nested", "text")

# Mainland national, the same after +86, or E.164 elsewhere (+, then 8–15 digits, not +86).
_MOBILE_RE = re.compile(r"(?:\+86)?1[3-9][0-9]{9}|\+(?!86)[1-9][0-9]{7,14}")


@dataclass
class CMessage:
    id: str
    mobile: str
    content: str
    created_at: datetime
    final_status: int  # STATUS_SUCCESS or STATUS_FAILED, reached after the status delays


def _delays(value: Any) -> tuple[float, float]:
    waiting, sending = (float(v) for v in value)  # exactly two numbers (TypeError/ValueError else)
    if not 0 <= waiting <= sending < float("inf"):
        raise ValueError("status_delays must be two seconds, 0 <= waiting <= sending")
    return waiting, sending


class _Refused(Exception):
    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _json_value(value: Any) -> Any:
    """Any JSON value (numbers charge and limit sends; anything else is only shown)."""
    if not _is_number(value):
        json.dumps(value)  # TypeError/ValueError when it cannot go on the wire
    return value


class CMessagesSandbox(SandboxServer):
    api_paths = frozenset({"/sms/get_balance", "/sms/send_verify", "/sms/send_message", "/sms/query"})
    # A send naming any of these (exactly as sent) is refused with 1008; nothing is sent.
    bad_numbers = Setting(number_set)
    balance = Setting(_json_value)
    # Seconds after a send until a message reads "sending", then until its final status.
    status_delays = Setting(_delays)

    def __init__(
        self,
        *,
        app_id: str = "sandbox-app-id",
        app_key: str = "sandbox-app-key",
        balance: Any = 10000.0,
        max_numbers_per_request: int = 100,
        max_content_length: int = 500,
        time_window: timedelta = timedelta(hours=2),
        status_delays: tuple[float, float] = (0.2, 0.4),
        fail_numbers: Iterable[str] = (),
        sensitive_words: Iterable[str] = ("敏感",),
        locked: bool = False,
        error_body_style: str = "flat",
        bad_numbers: Iterable[str] = (),
        base_path: str = "",
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if error_body_style not in ERROR_BODY_STYLES:
            raise ValueError(f"error_body_style must be one of {ERROR_BODY_STYLES}")
        super().__init__(
            host=host,
            port=port,
            clock=clock,
            valid_fault_codes=frozenset(ERROR_TEXTS) | frozenset(HTTP_TEXTS),
            base_path=base_path,
        )
        self.bad_numbers = bad_numbers
        self.app_id = app_id
        self.app_key = app_key
        self.balance = balance
        self.max_numbers_per_request = max_numbers_per_request
        self.max_content_length = max_content_length
        self.time_window = time_window
        self.status_delays = status_delays
        self.fail_numbers: set[str] = set(fail_numbers)
        self.sensitive_words: set[str] = set(sensitive_words)
        self.locked = locked
        self.error_body_style = error_body_style
        self.messages: dict[str, CMessage] = {}
        self._lock = threading.Lock()
        self._ids = itertools.count(521)  # the document's first example id

    # -- statuses ----------------------------------------------------------------------------

    def status_of(self, message: CMessage, now: datetime | None = None) -> int:
        """0 success, 1 waiting, 2 sending, 3 failed — as seen at `now` (default: the clock)."""
        elapsed = ((now or self.now()) - message.created_at).total_seconds()
        if elapsed < self.status_delays[0]:
            return STATUS_WAITING
        if elapsed < self.status_delays[1]:
            return STATUS_SENDING
        return message.final_status

    def state(self) -> dict[str, Any]:
        now = self.now()
        with self._lock:
            statuses = [self.status_of(m, now) for m in self.messages.values()]
            balance = self.balance
        return {
            "balance": _number(balance),
            "messages": len(statuses),
            "by_status": {str(s): statuses.count(s) for s in range(4)},
        }

    # -- errors ------------------------------------------------------------------------------

    def error(self, code: int, detail: str = "") -> Response:
        """An error answer: 1001–1011 as HTTP 400, else the code is the HTTP status."""
        message = ERROR_TEXTS.get(code) or HTTP_TEXTS[code]
        if detail:
            message = f"{message}: {detail}"
        status = 400 if code in ERROR_TEXTS else code
        if self.error_body_style == "nested":
            return Response.json(status, {"error": {"code": str(code), "msg": message}})
        if self.error_body_style == "text":
            return Response.text(status, f"{code} {message}")
        return Response.json(status, {"code": code, "message": message})

    def bad_parameter(self, reason: str) -> Response:
        return self.error(422, reason)

    def error_for_code(self, code: int) -> Response:
        return self.error(code)

    # -- API ---------------------------------------------------------------------------------

    def handle_api(self, path: str, body: Any) -> Response:
        try:
            if not isinstance(body, dict):
                raise _Refused(self.bad_parameter("body must be a JSON object"))
            self._authenticate(body)
            if path == "/sms/get_balance":
                with self._lock:
                    return Response.json(200, {"balance": _number(self.balance)})
            if path == "/sms/send_verify":
                mobile = self._param(body, "mobile", str)
                content = self._param(body, "content", str)
                sent = self._send([mobile] if mobile else [], content)
                return Response.json(200, sent[0])
            if path == "/sms/send_message":
                mobiles = self._param(body, "mobile", list)
                if not all(isinstance(m, str) for m in mobiles):
                    raise _Refused(self.bad_parameter("mobile must be a list of strings"))
                content = self._param(body, "content", str)
                return Response.json(200, self._send(mobiles, content))
            return Response.json(200, self._query(body))
        except _Refused as refused:
            return refused.response

    def _param(self, body: dict[str, Any], name: str, kind: type) -> Any:
        value = body.get(name)
        # bool is an int in Python, never a valid parameter here.
        if not isinstance(value, kind) or isinstance(value, bool):
            raise _Refused(self.bad_parameter(f"{name} missing or not a {kind.__name__}"))
        return value

    def _authenticate(self, body: dict[str, Any]) -> None:
        app_id = self._param(body, "app_id", str)
        stamp = body.get("datetime")
        # The document prints a JSON number; the vendor's SDKs send a string. Accept only those.
        if isinstance(stamp, int) and not isinstance(stamp, bool):
            stamp = str(stamp)
        if not isinstance(stamp, str):
            raise _Refused(self.bad_parameter("datetime missing or not yyyyMMddHHmmss"))
        sign = self._param(body, "sign", str)
        if app_id != self.app_id or self.locked:
            raise _Refused(self.error(401))
        when = parse_beijing_timestamp(stamp)
        if when is None or abs(when - self.now()) > self.time_window:
            raise _Refused(self.bad_parameter("datetime is not the current Beijing time"))
        if sign != md5_hex(self.app_id + stamp + self.app_key):
            raise _Refused(self.error(403))

    def _send(self, mobiles: list[str], content: str) -> list[dict[str, str]]:
        if not mobiles:
            raise _Refused(self.error(1007))
        if len(mobiles) > self.max_numbers_per_request:
            raise _Refused(self.error(1006))
        if not all(_MOBILE_RE.fullmatch(m) for m in mobiles) or not self.bad_numbers.isdisjoint(mobiles):
            raise _Refused(self.error(1008))
        if not content.strip():
            raise _Refused(self.error(1002))
        if len(content) > self.max_content_length:
            raise _Refused(self.error(1001))
        if any(word in content for word in self.sensitive_words):
            raise _Refused(self.error(1003))
        now = self.now()
        with self._lock:
            balance = self.balance
            if _is_number(balance):
                if balance < len(mobiles):
                    raise _Refused(self.error(1009))  # all or nothing
                self.balance = balance - len(mobiles)
            sent = []
            for mobile in mobiles:
                final = STATUS_FAILED if mobile in self.fail_numbers else STATUS_SUCCESS
                message = CMessage(str(next(self._ids)), mobile, content, now, final)
                self.messages[message.id] = message
                sent.append({"id": message.id, "mobile": mobile})
        return sent

    def _query(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        ids = self._param(body, "id_list", list)
        if not all(isinstance(i, str) for i in ids):
            raise _Refused(self.bad_parameter("id_list must be a list of strings"))
        now = self.now()
        with self._lock:
            known = [self.messages[i] for i in ids if i in self.messages]
        return [{"id": m.id, "mobile": m.mobile, "message_status": self.status_of(m, now)} for m in known]


def _number(value: Any) -> Any:
    """Balances print like the document's `{"balance": 10}` when they are whole; non-numbers as is."""
    return int(value) if _is_number(value) and float(value).is_integer() else value
