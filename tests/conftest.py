"""Shared fixtures: the project's sandbox providers on loopback and clients pointed at them."""

import os

# As in Lambda, Powertools' settings are in the environment before any of our modules is imported.
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "sms-gateway")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "SmsGateway")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")

import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from sandboxes import CMessagesSandbox, Sms230Sandbox
from smsgw.providers import cmessages, sms230
from smsgw.transport import Timeouts

FAST = Timeouts(connect=1.0, read=1.0)


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


def cm_client_for(sandbox: CMessagesSandbox, **options: object) -> cmessages.CMessagesClient:
    credentials = cmessages.Credentials(sandbox.app_id, sandbox.app_key)
    return cmessages.CMessagesClient(sandbox.url, credentials, **{"timeouts": FAST, **options})  # type: ignore[arg-type]


def sms230_client_for(sandbox: Sms230Sandbox, **options: object) -> sms230.Sms230Client:
    credentials = sms230.Credentials(sandbox.apikey, sandbox.apisecret)
    return sms230.Sms230Client(sandbox.url, credentials, **{"timeouts": FAST, **options})  # type: ignore[arg-type]


@pytest.fixture
def cm_client(cm_sandbox: CMessagesSandbox) -> cmessages.CMessagesClient:
    return cm_client_for(cm_sandbox)


@pytest.fixture
def sms230_client(sms230_sandbox: Sms230Sandbox) -> sms230.Sms230Client:
    return sms230_client_for(sms230_sandbox)


def closed_port_url() -> str:
    """A loopback URL nobody listens on: connections are refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def cn_numbers(count: int, start: int = 13800000000) -> list[str]:
    return [str(start + i) for i in range(count)]
