"""The local API's HTTP side: every request read, handed to the Gateway, its reply written back."""

import time
import traceback
import uuid
from typing import Any

from sandboxes.serving import QuietHandler, ThreadingServer

from .gateway import Gateway, Reply, Request, json_reply
from .log import log

MAX_BODY = 10 * 1024 * 1024  # API Gateway's payload limit


class ApiServer(ThreadingServer):
    """Serves the Gateway; until it is set (the stack still starting) every request is answered 503."""

    def __init__(self, address: tuple[str, int], gateway: Gateway | None) -> None:
        self.gateway = gateway
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
