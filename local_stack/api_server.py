"""The local API's HTTP side: every request read, handed to the Gateway, its reply written back."""

import contextlib
import time
import traceback
import uuid
from http import HTTPStatus
from typing import Any

from sandboxes.serving import QuietHandler, ThreadingServer

from .console.inbox import Console, serves
from .console.page import PREFIX as CONSOLE
from .gateway import Gateway, Reply, Request, json_reply
from .log import log

MAX_BODY = 10 * 1024 * 1024  # API Gateway's payload limit
MAX_DISCARD = 1024 * 1024  # what is read of a refused request's head before hanging up
DISCARD_SECONDS = 2.0


class ApiServer(ThreadingServer):
    """Serves the Gateway; until it is set (the stack still starting) every request is answered 503."""

    def __init__(self, address: tuple[str, int], gateway: Gateway | None) -> None:
        self.gateway = gateway
        self.console: Console | None = None  # the local inbox at /_console, once the stack is up
        super().__init__(address, _ApiHandler)


class _ApiHandler(QuietHandler):
    """Quiet but for one access line per request, written by _serve (the route, never the raw path)."""

    server: ApiServer

    def __getattr__(self, name: str) -> Any:
        # Every method is served (TRACE, QUERY …): API Gateway answers unknown ones 403, not 501.
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)

    def _serve(self) -> None:
        started = time.perf_counter()
        with self.server.answering():
            reply, template = self._answer()
            self.write_reply(reply.status, reply.headers, reply.body)
            elapsed = (time.perf_counter() - started) * 1000
            log(f"{self.command} {template} {reply.status} {elapsed:.0f}")

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """What http.server refuses itself (a request line or header beyond its limits: 414, 431;
        a malformed request: 400, 505), answered in JSON as API Gateway answers, then hung up."""
        self.close_connection = True
        if self.request_version == "HTTP/0.9":  # its version unread yet: still answer with a status line
            self.request_version = self.protocol_version
        reply = json_reply(code, {"message": HTTPStatus(code).phrase}, str(uuid.uuid4()))
        self.write_reply(code, [*reply.headers, ("Connection", "close")], reply.body)
        log(f"{self.command or '-'} (refused) {code} 0")
        self._discard_head()

    def _discard_head(self) -> None:
        """Read what is left of the request's head (a bounded amount, briefly), so that hanging up
        with it unread does not reset the connection before the client reads the answer."""
        total = 0
        with contextlib.suppress(OSError, ValueError):
            self.connection.settimeout(DISCARD_SECONDS)
            while total < MAX_DISCARD:
                line = self.rfile.readline(65537)
                total += len(line)
                if line in (b"\r\n", b"\n", b""):
                    break

    def _answer(self) -> tuple[Reply, str]:
        request_id = str(uuid.uuid4())
        try:
            body = self._read_body()
        except ValueError:  # a malformed chunk size
            self.close_connection = True
            return json_reply(400, {"message": "Bad Request"}, request_id), "-"
        if body is None:
            self.close_connection = True
            return json_reply(413, {"message": "Request Too Long"}, request_id), "-"
        if self.server.gateway is None:  # still starting
            return json_reply(503, {"message": "Service Unavailable"}, request_id), "-"
        request = Request(self.command, self.path, list(self.headers.items()), body, self.client_address[0])
        try:
            console = self.server.console
            if console is not None and serves(self.path):
                return console.handle(self.command, self.path, body, request.headers), CONSOLE
            return self.server.gateway.handle(request)
        except Exception:
            log(f"the API emulation failed:\n{traceback.format_exc().rstrip()}")
            return json_reply(500, {"message": "Internal server error"}, request_id), "-"

    def _read_body(self) -> bytes | None:
        """The request body (Content-Length or chunked); None when beyond API Gateway's limit."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks, total = [], 0
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    break
                total += size
                if total > MAX_BODY:
                    return None
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        if length > MAX_BODY:
            return None
        return self.rfile.read(length) if length > 0 else b""
