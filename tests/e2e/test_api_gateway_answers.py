"""The local API under a burst of connections, API Gateway's own JSON answers (refusals, requests
http.server itself refuses, the integration timeout) and the functions' template timeouts."""

import dataclasses
import http.client
import json
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import urllib3

from local_stack import template as tpl
from local_stack.stack import LocalStack
from tests.e2e.client import RunningStack, start_stack, stop_stack

pytestmark = pytest.mark.e2e

KEY = "answers-key"
BURST = 64


@dataclasses.dataclass
class Raw:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        assert self.headers["content-type"] == "application/json", self.headers
        return json.loads(self.body)


@pytest.fixture(scope="module")
def local() -> Iterator[LocalStack]:
    """The stack in-process (one, whatever the time zone: these tests do not depend on it)."""
    with (
        tempfile.TemporaryDirectory(prefix="local-stack-") as folder,
        LocalStack(
            {
                "PORT": "0",
                "API_KEY": KEY,
                "POLL_INTERVAL_SECONDS": "3600",
                "LOCAL_STACK_ENV_FILE": f"{folder}/env.json",
            }
        ) as running,
    ):
        yield running


def address(local: LocalStack) -> tuple[str, int]:
    url = urlsplit(local.api_url)
    assert url.hostname is not None and url.port is not None
    return url.hostname, url.port


def call(local: LocalStack, method: str, path: str, headers: dict[str, str] | None = None) -> Raw:
    connection = http.client.HTTPConnection(*address(local), timeout=60)
    try:
        connection.request(method, path, headers=headers or {})
        response = connection.getresponse()
        return Raw(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        connection.close()


def raw(local: LocalStack, request: bytes) -> Raw:
    """`request` sent as it is; the answer read to the end (the server hangs up after it)."""
    with socket.create_connection(address(local), timeout=30) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in header_lines)
    return Raw(int(status_line.split()[1]), {k.lower(): v for k, v in headers.items()}, body)


def test_a_burst_of_connections_is_answered_every_one(local: LocalStack) -> None:
    gate = threading.Barrier(BURST)

    def one(_: int) -> tuple[float, int]:
        connection = http.client.HTTPConnection(*address(local), timeout=60)
        try:
            gate.wait()  # every connection opened at once
            started = time.monotonic()
            connection.connect()
            connected = time.monotonic() - started
            connection.request("GET", "/sms/balance", headers={"x-api-key": KEY})
            response = connection.getresponse()
            response.read()
            return connected, response.status
        finally:
            connection.close()

    with ThreadPoolExecutor(BURST) as pool:
        results = list(pool.map(one, range(BURST)))

    assert [status for _, status in results] == [200] * BURST
    # A connection the listen backlog had no room for waits for its SYN's retransmission (1 s), or
    # is reset.
    slowest = max(connected for connected, _ in results)
    assert slowest < 1.0, f"a connection took {slowest:.2f} s to be accepted"


@pytest.mark.parametrize(
    ("name", "request_bytes", "status"),
    [
        ("long-request-line", b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        ("long-header", b"GET /sms/balance HTTP/1.1\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n", 431),
        ("many-headers", b"GET /sms/balance HTTP/1.1\r\n" + b"X-N: 1\r\n" * 120 + b"\r\n", 431),
        ("bad-request-line", b"GET / HTTP/1.1 extra\r\nHost: x\r\n\r\n", 400),
        ("bad-version", b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_requests_http_server_refuses_are_answered_in_json(
    local: LocalStack, name: str, request_bytes: bytes, status: int
) -> None:
    answer = raw(local, request_bytes)

    assert answer.status == status, (name, answer)
    assert answer.json() == {"message": HTTPStatus(status).phrase}
    assert answer.headers["x-amzn-requestid"]
    # The server goes on answering.
    assert call(local, "GET", "/sms/balance", {"x-api-key": KEY}).status == 200


NO_ROUTE = ("Missing Authentication Token", "MissingAuthenticationTokenException")
NO_KEY = ("Forbidden", "ForbiddenException")


@pytest.mark.parametrize(
    ("method", "path", "headers", "expected"),
    [
        ("GET", "/nothing/here", {"x-api-key": KEY}, NO_ROUTE),
        ("GET", "/" + "x" * 8000, {}, NO_ROUTE),
        ("DELETE", "/sms/balance", {"x-api-key": KEY}, NO_ROUTE),
        ("GET", "/sms/balance", {}, NO_KEY),
        ("GET", "/sms/balance", {"x-api-key": "wrong"}, NO_KEY),
    ],
    ids=["unknown-path", "long-unknown-path", "unknown-method", "missing-key", "wrong-key"],
)
def test_refusals_are_api_gateway_json(
    local: LocalStack, method: str, path: str, headers: dict[str, str], expected: tuple[str, str]
) -> None:
    answer = call(local, method, path, headers)

    assert answer.status == 403
    assert (answer.json(), answer.headers["x-amzn-errortype"]) == ({"message": expected[0]}, expected[1])


def test_functions_get_the_template_timeouts(local: LocalStack) -> None:
    declared = {f.logical_id: float(f.timeout) for f in tpl.functions(tpl.load()).values()}
    assert local.functions
    for logical_id, function in local.functions.items():
        assert function.timeout == declared[logical_id], logical_id
    for logical_id, env in local.environments.items():
        assert float(env["AWS_LAMBDA_FUNCTION_TIMEOUT"]) == declared[logical_id], logical_id


def test_an_invocation_past_the_timeout_is_answered_504_at_the_deadline() -> None:
    with tempfile.TemporaryDirectory(prefix="local-stack-") as folder:
        log_path = Path(folder) / "stderr.log"
        # 4 s: room for a fresh environment's first invocation (its lazy imports) on a loaded machine.
        # The poller reads the balance on every tick: no tick during the test, or it takes the delay.
        process, info = start_stack(
            {"LOCAL_FUNCTION_TIMEOUT_SECONDS": "4", "POLL_INTERVAL_SECONDS": "3600"}, log_path
        )
        running = RunningStack(info, process, log_path, urllib3.PoolManager())
        try:
            running.sandbox(
                "cmessages",
                "POST",
                "/_sandbox/faults",
                # only the balance path: the scheduled poller must not take the one delay
                {"kind": "delay", "seconds": 20, "times": 1, "path": "/sms/get_balance"},
            )
            started = time.monotonic()
            timed_out = running.api("GET", "/sms/balance")
            elapsed = time.monotonic() - started

            assert timed_out.status == 504, timed_out.text
            assert timed_out.json() == {"message": "Endpoint request timed out"}
            assert 3.9 <= elapsed < 15  # at the 4 s deadline, not after the provider's 20 s
            # Its execution environment was ended; the next invocation gets a fresh one.
            assert running.api("GET", "/sms/balance").status == 200
            assert "BalanceFunction timed out after 4 seconds" in running.log()
        finally:
            stop_stack(process, log_path)
