"""The sandbox server: a threaded HTTP server on loopback that logs each request, applies faults,
answers the admin endpoints and hands the provider's API paths to its subclass.

Each provider subclasses `SandboxServer` and implements the provider-specific hooks. The sandboxes
are deliberately independent of the gateway package: they sign, check and date things themselves.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, Self

from .faults import Fault, FaultSwitch
from .serving import QuietHandler, ThreadingServer
from .settings import ADMIN_PREFIX, Setting, jsonable, parse_base_path
from .wire import BEIJING, RecordedRequest, Response, utc_now

DEFAULT_TIMEOUT_SECONDS = 30.0
AdminHandler = Callable[[Any], Response]


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
    # When set (e.g. "/smscoreapi"), the API answers only under it; anything else is a web server's
    # HTML 404 (405 for another method). Requests are logged, and faults match, by the API path.
    base_path = Setting(parse_base_path)

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], datetime] | None = None,
        valid_fault_codes: frozenset[int] = frozenset(),
        base_path: str = "",
    ) -> None:
        self.base_path = base_path
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
        self.faults.clear()  # and "gather" waits
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
            "/_sandbox/settings": {"GET": self._admin_settings, "POST": self._admin_set},
        }

    def settings(self) -> dict[str, Setting[Any]]:
        """The behaviour switches of this sandbox, by attribute name."""
        found: dict[str, Setting[Any]] = {}
        for klass in reversed(type(self).__mro__):
            found.update({k: v for k, v in vars(klass).items() if isinstance(v, Setting)})
        return found

    def on_stop(self) -> None:
        pass

    # -- request handling --------------------------------------------------------------------

    def _handle(self, method: str, path: str, raw: bytes, headers: dict[str, str]) -> Response | None:
        if path.startswith(ADMIN_PREFIX):
            return self._handle_admin(method, path, raw)
        prefix = self.base_path
        if prefix:
            path = path.removeprefix(prefix) if path.startswith(prefix + "/") else ""
        if path not in self.api_paths:
            return Response.html_error(404) if prefix else Response.text(404, "Not Found")
        if method != "POST":
            return Response.html_error(405) if prefix else Response.text(405, "Method Not Allowed")
        recorded = RecordedRequest(path, _loads_or_text(raw), headers, time.time())
        with self._requests_lock:
            self.requests.append(recorded)
        fault = self.faults.take(path)
        response = (
            self._process(path, raw, headers) if fault is None else self._faulted(fault, path, raw, headers)
        )
        if response is not None:
            recorded.status, recorded.answer = response.status, _loads_or_text(response.body)
        return response

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
        if fault.kind in ("error_code", "http_status") and fault.code is not None:
            # "http_status": the front web server answers; the provider never sees the request.
            return (
                self.error_for_code(fault.code)
                if fault.kind == "error_code"
                else Response.html_error(fault.code)
            )
        if fault.gathering is not None:
            # Gave up waiting (broken): the answer goes anyway, and the fault says it scattered.
            with contextlib.suppress(threading.BrokenBarrierError):
                fault.gathering.wait(fault.seconds)
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
                together=body.get("together"),
            )
        except (ValueError, TypeError) as exc:
            return Response.json(400, {"error": str(exc)})
        return Response.json(200, {"ok": True})

    def _admin_clear(self, body: Any) -> Response:
        self.faults.clear()
        return Response.json(200, {"ok": True})

    def _admin_settings(self, body: Any) -> Response:
        return Response.json(200, {name: jsonable(getattr(self, name)) for name in self.settings()})

    def _admin_set(self, body: Any) -> Response:
        """Sets the named switches: all of them, or none when one is unknown or its value is bad."""
        known = self.settings()
        if not isinstance(body, dict):
            return Response.json(400, {"error": "expected a JSON object"})
        unknown = sorted(set(body) - set(known))
        if unknown:
            return Response.json(400, {"error": f"unknown settings {unknown}; known: {sorted(known)}"})
        try:
            parsed = {name: known[name].parse(value) for name, value in body.items()}
        except (ValueError, TypeError) as exc:
            return Response.json(400, {"error": str(exc)})
        for name, value in parsed.items():
            setattr(self, name, value)
        return self._admin_settings(None)

    def _admin_requests(self, body: Any) -> Response:
        return Response.json(
            200,
            [
                {"path": r.path, "body": r.body, "at": r.at, "status": r.status, "answer": r.answer}
                for r in self.recorded()
            ],
        )


def _loads_or_text(raw: bytes) -> Any:
    """The request body for the log: parsed JSON when possible, else the raw text."""
    text = raw.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        return text
