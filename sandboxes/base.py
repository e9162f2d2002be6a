"""Shared machinery for the sandbox providers: HTTP server, request log, faults, admin endpoints.

Each provider subclasses `SandboxServer` and implements the provider-specific hooks. The sandboxes
are deliberately independent of the gateway package: they sign, check and date things themselves.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Self

from .serving import QuietHandler, ThreadingServer

BEIJING = timezone(timedelta(hours=8))

FAULT_KINDS = frozenset({"delay", "timeout", "status_500", "malformed", "error_code", "drop"})
ADMIN_PREFIX = "/_sandbox/"
DEFAULT_TIMEOUT_SECONDS = 30.0

_TIMESTAMP_RE = re.compile(r"[0-9]{14}")


def utc_now() -> datetime:
    return datetime.now(UTC)


def md5_hex(text: str) -> str:
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()  # the providers' protocol


def parse_beijing_timestamp(text: str) -> datetime | None:
    """`yyyyMMddHHmmss` in Beijing time → aware datetime, or None when malformed."""
    # strptime alone accepts short fields ("2020411..."), so insist on exactly 14 ASCII digits.
    if not _TIMESTAMP_RE.fullmatch(text):
        return None
    try:
        return datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=BEIJING)
    except ValueError:
        return None


@dataclass(frozen=True)
class RecordedRequest:
    path: str
    body: Any
    headers: dict[str, str]
    at: float


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    content_type: str = "application/json; charset=utf-8"

    @classmethod
    def json(cls, status: int, payload: Any) -> Response:
        return cls(status, json.dumps(payload, ensure_ascii=False).encode("utf-8"))

    @classmethod
    def text(cls, status: int, text: str) -> Response:
        return cls(status, text.encode("utf-8"), "text/plain; charset=utf-8")


AdminHandler = Callable[[Any], Response]


@dataclass
class Fault:
    kind: str
    path: str | None = None
    seconds: float | None = None
    code: int | None = None
    times: int | None = None  # remaining firings; None = until cleared


class FaultSwitch:
    """Faults the next matching requests should suffer; thread-safe."""

    def __init__(self, valid_codes: frozenset[int]) -> None:
        self._valid_codes = valid_codes
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def inject(
        self,
        kind: str,
        *,
        path: str | None = None,
        seconds: float | None = None,
        code: int | None = None,
        times: int | None = None,
    ) -> None:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}")
        if kind == "error_code" and code not in self._valid_codes:
            raise ValueError(f"error_code fault needs one of {sorted(self._valid_codes)}")
        if kind == "delay" and seconds is None:
            raise ValueError("delay fault needs seconds")
        if seconds is not None and seconds < 0:
            raise ValueError("seconds must be >= 0")
        if times is not None and times < 1:
            raise ValueError("times must be >= 1")
        with self._lock:
            self._faults.append(Fault(kind, path, seconds, code, times))

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def active(self) -> list[Fault]:
        with self._lock:
            return [Fault(f.kind, f.path, f.seconds, f.code, f.times) for f in self._faults]

    def take(self, path: str) -> Fault | None:
        """The first fault matching `path`, counting one firing of it."""
        with self._lock:
            for fault in self._faults:
                if fault.path is None or fault.path == path:
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times == 0:
                            self._faults.remove(fault)
                    return fault
        return None


class _HTTPServer(ThreadingServer):
    def __init__(self, address: tuple[str, int], sandbox: SandboxServer) -> None:
        self.sandbox = sandbox
        super().__init__(address, _Handler)


class _Handler(QuietHandler):  # quiet: bodies carry phone numbers and signatures
    server: _HTTPServer

    def do_POST(self) -> None:
        self._dispatch()

    def do_GET(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.close_connection = True
            self._write(Response.text(400, "bad Content-Length"))
            return
        raw = self.rfile.read(length) if length > 0 else b""
        path = self.path.split("?", 1)[0]
        headers = dict(self.headers.items())
        response = self.server.sandbox._handle(self.command, path, raw, headers)
        if response is None:  # "drop" fault, or stopping: hang up without an answer
            self.close_connection = True
            return
        self._write(response)

    def _write(self, response: Response) -> None:
        self.write_reply(response.status, [("Content-Type", response.content_type)], response.body)


class SandboxServer:
    """A provider stand-in on loopback. Subclasses fill in the provider hooks."""

    api_paths: frozenset[str] = frozenset()

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], datetime] | None = None,
        valid_fault_codes: frozenset[int] = frozenset(),
    ) -> None:
        self.host = host
        self.port = port
        self.clock: Callable[[], datetime] = clock or utc_now
        self.faults = FaultSwitch(valid_fault_codes)
        self.requests: list[RecordedRequest] = []
        self._requests_lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: _HTTPServer | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("sandbox not started")
        return f"http://{self.host}:{self._server.server_address[1]}"

    def start(self) -> Self:
        if self._server is not None:
            raise RuntimeError("sandbox already started")
        self._stopping.clear()
        self._server = _HTTPServer((self.host, self.port), self)
        # A short poll, so that stop() returns promptly.
        self._server.serve_in_thread(f"{type(self).__name__}-http", poll_interval=0.05)
        return self

    def stop(self) -> None:
        server = self._server
        if server is None:
            return
        self._stopping.set()  # wakes "delay"/"timeout" sleeps
        server.stop()
        self._server = None
        self.on_stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- helpers for subclasses --------------------------------------------------------------

    def now(self) -> datetime:
        return self.clock()

    def beijing_now(self) -> datetime:
        return self.clock().astimezone(BEIJING)

    def recorded(self, path: str | None = None) -> list[RecordedRequest]:
        with self._requests_lock:
            return [r for r in self.requests if path is None or r.path == path]

    # -- provider hooks ----------------------------------------------------------------------

    def handle_api(self, path: str, body: Any) -> Response:
        raise NotImplementedError

    def bad_parameter(self, reason: str) -> Response:
        """The provider's answer to a body that is not a JSON request."""
        raise NotImplementedError

    def error_for_code(self, code: int) -> Response:
        """The provider's documented error answer for `code` (the "error_code" fault)."""
        raise NotImplementedError

    def state(self) -> dict[str, Any]:
        return {}

    def admin_routes(self) -> dict[str, dict[str, AdminHandler]]:
        """Admin endpoints: path → method → handler(parsed body). Subclasses may add more."""
        return {
            "/_sandbox/faults": {"POST": self._admin_inject, "DELETE": self._admin_clear},
            "/_sandbox/requests": {"GET": self._admin_requests},
            "/_sandbox/state": {"GET": lambda body: Response.json(200, self.state())},
        }

    def on_stop(self) -> None:
        pass

    # -- request handling --------------------------------------------------------------------

    def _handle(self, method: str, path: str, raw: bytes, headers: dict[str, str]) -> Response | None:
        if path.startswith(ADMIN_PREFIX):
            return self._handle_admin(method, path, raw)
        if path not in self.api_paths:
            return Response.text(404, "Not Found")
        if method != "POST":
            return Response.text(405, "Method Not Allowed")
        with self._requests_lock:
            self.requests.append(RecordedRequest(path, _loads_or_text(raw), headers, time.time()))
        fault = self.faults.take(path)
        if fault is None:
            return self._process(path, raw, headers)
        return self._faulted(fault, path, raw, headers)

    def _handle_admin(self, method: str, path: str, raw: bytes) -> Response:
        routes = self.admin_routes()
        if path not in routes:
            return Response.text(404, "Not Found")
        if method not in routes[path]:
            return Response.text(405, "Method Not Allowed")
        return routes[path][method](_loads_or_text(raw))

    def _faulted(self, fault: Fault, path: str, raw: bytes, headers: dict[str, str]) -> Response | None:
        """The answer under `fault`; None = hang up without answering."""
        if fault.kind == "status_500":
            return Response.text(500, "Internal Server Error")
        if fault.kind == "error_code" and fault.code is not None:
            return self.error_for_code(fault.code)
        # "delay": a slow answer (cut short when the sandbox stops).
        if fault.kind == "drop" or (fault.kind == "delay" and self._stopping.wait(fault.seconds or 0.0)):
            return None
        response = self._process(path, raw, headers)
        # "timeout": the provider accepted the request; only the answer is late (or never comes).
        seconds = DEFAULT_TIMEOUT_SECONDS if fault.seconds is None else fault.seconds
        if fault.kind == "timeout" and self._stopping.wait(seconds):
            return None
        if fault.kind == "malformed":
            # A proper prefix of a JSON object or list is never valid JSON.
            return Response(200, response.body[: max(1, len(response.body) // 2)])
        return response

    def _process(self, path: str, raw: bytes, headers: dict[str, str]) -> Response:
        content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
        if not content_type.strip().lower().startswith("application/json"):
            return self.bad_parameter("Content-Type must be application/json")
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return self.bad_parameter("body is not UTF-8 JSON")
        return self.handle_api(path, body)

    def _admin_inject(self, body: Any) -> Response:
        if not isinstance(body, dict):
            return Response.json(400, {"error": "expected a JSON object"})
        try:
            self.faults.inject(
                str(body.get("kind")),
                path=body.get("path"),
                seconds=body.get("seconds"),
                code=body.get("code"),
                times=body.get("times"),
            )
        except (ValueError, TypeError) as exc:
            return Response.json(400, {"error": str(exc)})
        return Response.json(200, {"ok": True})

    def _admin_clear(self, body: Any) -> Response:
        self.faults.clear()
        return Response.json(200, {"ok": True})

    def _admin_requests(self, body: Any) -> Response:
        return Response.json(200, [{"path": r.path, "body": r.body, "at": r.at} for r in self.recorded()])


def _loads_or_text(raw: bytes) -> Any:
    """The request body for the log: parsed JSON when possible, else the raw text."""
    text = raw.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        return text
