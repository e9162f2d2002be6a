"""Every registered provider, with its sandbox: the contract tests run over each of them.

Adding a provider adds one line to PROVIDERS (its module, its sandbox and the secret the sandbox
expects); the contract tests then cover it with no other change.
"""

import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from sandboxes import CMessagesSandbox, Sms230Sandbox
from sandboxes.base import SandboxServer
from smsgw.providers.base import Provider
from tests.conftest import Receiver
from tests.plugin.fakepush_sandbox import FakePushSandbox


@dataclass(frozen=True)
class Plugged:
    module: str  # defines PROVIDER
    sandbox: Callable[[], SandboxServer]  # a fast, strict sandbox
    secret: Callable[[Any], dict[str, str]]  # the secret that sandbox accepts

    @property
    def cls(self) -> type[Provider]:
        provider: type[Provider] = importlib.import_module(self.module).PROVIDER
        return provider


PROVIDERS: dict[str, Plugged] = {
    "cmessages": Plugged(
        "smsgw.providers.cmessages",
        lambda: CMessagesSandbox(status_delays=(0.05, 0.1)),
        lambda s: {"app_id": s.app_id, "app_key": s.app_key},
    ),
    "230sms": Plugged(
        "smsgw.providers.sms230",
        lambda: Sms230Sandbox(receipt_delay=0.01, receipt_intervals=(0.05,)),
        lambda s: {"apikey": s.apikey, "apisecret": s.apisecret},
    ),
    "fakepush": Plugged("tests.plugin.fakepush", FakePushSandbox, lambda s: s.secret),
}
MODULES = ",".join(p.module for p in PROVIDERS.values())


@pytest.fixture(params=sorted(PROVIDERS))
def plugged(request: pytest.FixtureRequest) -> Plugged:
    return PROVIDERS[request.param]


@pytest.fixture
def sandbox(plugged: Plugged, receiver: Receiver) -> Iterator[Any]:
    with plugged.sandbox() as server:
        if hasattr(server, "callback_url"):  # providers that push receipts push them to `receiver`
            server.callback_url = receiver.url
        yield server
