"""The threading HTTP server of the sandboxes and of the local stack's API, one that stops cleanly.

It knows its open connections and the requests being answered, so stop() can let answers finish and
then wake the handler threads idling on keep-alive sockets. Like the rest of `sandboxes`, it imports
nothing of the local stack or of the gateway's layer.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class ThreadingServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer served from a daemon thread of its own: serve_in_thread(), then stop()."""

    daemon_threads = True
    # The listen backlog (socketserver's default is 5): a burst of connections waits to be accepted
    # instead of being reset.
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        self.connections: set[socket.socket] = set()
        self.active = 0  # requests being answered (by handlers that count them with answering())
        self.cond = threading.Condition()
        self.thread: threading.Thread | None = None
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.cond:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.cond:
            self.connections.discard(request)
        super().shutdown_request(request)

    @contextlib.contextmanager
    def answering(self) -> Iterator[None]:
        """Counts one request as being answered: stop() waits for it (up to its grace)."""
        with self.cond:
            self.active += 1
        try:
            yield
        finally:
            with self.cond:
                self.active -= 1
                self.cond.notify_all()

    def serve_in_thread(self, name: str, poll_interval: float) -> None:
        """Serve until stop(); `poll_interval` is how long stop() may wait for the loop to notice."""
        self.thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": poll_interval}, name=name, daemon=True
        )
        self.thread.start()

    def stop(self, grace: float = 0.0) -> None:
        """Stop serving; let requests under way finish (up to `grace` seconds), hang up idle
        keep-alives, close the socket (joining the handler threads)."""
        if self.thread is not None:
            self.shutdown()
            self.thread.join()
            self.thread = None
        with self.cond:
            self.cond.wait_for(lambda: self.active == 0, grace)
            connections = list(self.connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self.server_close()


class QuietHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive, no Nagle delay, no access log (bodies and paths carry numbers and tokens)."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes: no 40 ms stalls

    def write_reply(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        """The answer, with its Content-Length (no body to HEAD); a client gone away ends the connection."""
        try:
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
        except OSError:
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        pass
