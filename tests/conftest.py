"""Shared fixtures: the project's sandbox providers on loopback and clients pointed at them."""

import os

# As in Lambda, Powertools' settings are in the environment before any of our modules is imported.
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "sms-gateway")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "SmsGateway")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from sandboxes import CMessagesSandbox, Sms230Sandbox
from smsgw.domain import numbers
from smsgw.platform.transport import Timeouts
from smsgw.providers.base import Provider, ProviderSettings
from smsgw.providers.cmessages import CMessages
from smsgw.providers.sms230 import Sms230

FAST = Timeouts(connect=1.0, read=1.0)
TEST_NUMBER_KEY = b"a number key for the tests, not a deployed one"


@pytest.fixture(autouse=True)
def number_key(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests of the layer's parts key numbers with a fixed key. The handler tests' `stack` does not:
    its functions read the template's number key secret from Moto, as deployed."""
    if "stack" not in request.fixturenames:
        monkeypatch.setattr(numbers, "_number_secret", lambda: TEST_NUMBER_KEY)


class FakeClock:
    """A settable aware clock for the sandboxes' status progression."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def cm_sandbox() -> Iterator[CMessagesSandbox]:
    with CMessagesSandbox() as sandbox:
        yield sandbox


@pytest.fixture
def sms230_sandbox() -> Iterator[Sms230Sandbox]:
    with Sms230Sandbox() as sandbox:
        yield sandbox


def client_for[P: Provider](
    cls: type[P], url: str, secret: dict[str, str], *, clock: Any = None, backoff: Any = None, **settings: Any
) -> P:
    """A provider client on `url`, with the provider's defaults and short timeouts."""
    values: dict[str, Any] = {
        "base_url": url,
        "secret_id": "test",
        "batch_size": cls.batch_cap,
        "requests_per_second": cls.default_requests_per_second,
        "timeouts": FAST,
        **settings,
    }
    extra = {k: v for k, v in {"clock": clock, "backoff": backoff}.items() if v is not None}
    return cls(ProviderSettings(**values), secret, **extra)


def cm_client_for(sandbox: CMessagesSandbox, **settings: Any) -> CMessages:
    return client_for(
        CMessages, sandbox.url, {"app_id": sandbox.app_id, "app_key": sandbox.app_key}, **settings
    )


def sms230_client_for(sandbox: Sms230Sandbox, **settings: Any) -> Sms230:
    return client_for(
        Sms230, sandbox.url, {"apikey": sandbox.apikey, "apisecret": sandbox.apisecret}, **settings
    )


@pytest.fixture
def cm_client(cm_sandbox: CMessagesSandbox) -> CMessages:
    return cm_client_for(cm_sandbox)


@pytest.fixture
def sms230_client(sms230_sandbox: Sms230Sandbox) -> Sms230:
    return sms230_client_for(sms230_sandbox)


class Receiver:
    """A customer callback endpoint on loopback for receipts a sandbox pushes;
    `reply(body, nth_for_this_mobile)` decides the answer."""

    def __init__(self) -> None:
        self.received: list[tuple[float, dict[str, Any], str]] = []
        self.reply: Callable[[dict[str, Any], int], tuple[int, bytes]] = lambda body, nth: (200, b"OK")
        self.lock = threading.Lock()
        self.taken = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with receiver.lock:
                    receiver.received.append((time.monotonic(), body, self.headers["Content-Type"]))
                    nth = sum(1 for _, b, _ in receiver.received if b.get("mobile") == body.get("mobile"))
                status, data = receiver.reply(body, nth)
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/callbacks/push/token"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05})
        self.thread.start()

    def next(self, timeout: float = 5.0) -> bytes:
        """The next body not yet taken, as bytes (waits for it)."""
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                if len(self.received) > self.taken:
                    self.taken += 1
                    return json.dumps(self.received[self.taken - 1][1]).encode()
            if time.monotonic() > deadline:
                raise TimeoutError("nothing was pushed")
            time.sleep(0.01)

    def bodies(self) -> list[dict[str, Any]]:
        with self.lock:
            return [body for _, body, _ in self.received]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def closed_port_url() -> str:
    """A loopback URL nobody listens on: connections are refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def cn_numbers(count: int, start: int = 13800000000) -> list[str]:
    return [str(start + i) for i in range(count)]
