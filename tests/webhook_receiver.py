"""A webhook receiver on loopback written only on the reference `standardwebhooks` library: what a
customer's application would run."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # the dispatcher's pollers connect at once
    daemon_threads = True


class Receiver:
    """A webhook receiver on loopback: answers from `answers` in turn (then 200), and keeps each
    delivery with whether the reference library verified it."""

    def __init__(self) -> None:
        self.answers: list[int] = []
        self.otherwise = 200  # the answer once `answers` is spent
        self.secrets: list[str] = []
        self.got: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                data = self.rfile.read(int(self.headers["Content-Length"]))
                verified = []
                for secret in receiver.secrets:
                    try:
                        Webhook(secret).verify(data, dict(self.headers))
                        verified.append(secret)
                    except Exception:  # noqa: S110 - not this secret's signature
                        pass
                status = receiver.answers.pop(0) if receiver.answers else receiver.otherwise
                receiver.got.append(
                    {
                        "id": self.headers["webhook-id"],
                        "body": json.loads(data),
                        "verified": verified,
                        "status": status,
                        "at": time.time(),
                    }
                )
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = _Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
