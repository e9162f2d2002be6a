"""Bulk send at 50 ms per provider request: the provider clients, a per-number client, the handler.

(i)  `Sms230Client.send` / `CMessagesClient.send`, as the registry builds them from the template's
     configuration, over real HTTP to the sandboxes.
(ii) The real send handler in-process (Moto in-process), split into its phases by timers wrapped
     around the layer's functions: parse/validate, blocklist read, API-key quota, provider calls,
     DynamoDB recording.
The per-number client does what the vendors' SDKs do: a new connection per call, one number per
request, one request after another. It runs on a sample and is extrapolated linearly.
"""

import http.client
import json
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

from smsgw.domain.numbers import Recipient
from smsgw.guards import blocklist, limits
from smsgw.providers import registry
from smsgw.providers.signing import beijing_timestamp, sign
from smsgw.sending import request as send_request
from smsgw.sending import service

from .stack import Stack, Timers, body_of, cn_numbers, send_event

DELAY = 0.05  # seconds the sandboxes hold every provider request
SMS230_DOCUMENTED_RPS = 100
PATHS = {"230sms": "/outauth/send", "cmessages": "/sms/send_message"}
PROVIDERS = ("230sms", "cmessages")


def cap_of(provider: str) -> int:
    return registry.provider(provider).batch_size


def concurrency_of(provider: str) -> int:
    return registry.provider(provider).settings.concurrency


def physical_minimum(provider: str, n: int, cap: int, concurrency: int, delay: float = DELAY) -> float:
    """The least wall time any client could take. 230sms: ceil(n/1000) requests at the documented
    100 requests/s plus one latency. cmessages documents no rate limit: requests in waves of the
    client's concurrency, one latency per wave."""
    requests_needed = math.ceil(n / cap)
    if provider == "230sms":
        return (requests_needed - 1) / SMS230_DOCUMENTED_RPS + delay
    return math.ceil(requests_needed / concurrency) * delay


def recipients(n: int) -> list[Recipient]:
    return [Recipient(86, number) for number in cn_numbers(n)]


def wire_requests(stack: Stack, provider: str) -> int:
    sandbox: Any = stack.sms230 if provider == "230sms" else stack.cm
    return len(sandbox.recorded(PATHS[provider]))


@dataclass
class ClientRun:
    provider: str
    n: int
    cap: int
    concurrency: int
    requests: int  # seen by the sandbox, per send
    client_requests: int  # counted by the client
    expected_requests: int
    accepted: int
    failed: int
    walls: list[float] = field(default_factory=list)
    physical_min_s: float = 0.0

    @property
    def wall_s(self) -> float:
        return statistics.median(self.walls)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "wall_s": self.wall_s, "recipients_per_s": self.n / self.wall_s}


def client_layer(stack: Stack, sizes: tuple[int, ...], repeats: Callable[[int], int]) -> list[ClientRun]:
    runs = []
    for n in sizes:
        batch = recipients(n)
        for provider in PROVIDERS:
            client = registry.provider(provider)
            cap, concurrency = cap_of(provider), concurrency_of(provider)
            run = ClientRun(provider, n, cap, concurrency, 0, 0, math.ceil(n / cap), 0, 0)
            run.physical_min_s = physical_minimum(provider, n, cap, concurrency)
            for _ in range(repeats(n)):
                before = wire_requests(stack, provider)
                start = time.perf_counter()
                outcome = client.send(batch, "Your parcel has shipped")
                run.walls.append(time.perf_counter() - start)
                run.requests = max(run.requests, wire_requests(stack, provider) - before)
                run.client_requests = max(run.client_requests, outcome.requests)
                run.accepted = len(outcome.accepted)
                run.failed = sum(len(f.recipients) for f in outcome.failures)
            runs.append(run)
    return runs


# -- the per-number client (as the vendors' SDKs send) ---------------------------------------------


def _post_on_new_connection(base_url: str, path: str, payload: dict[str, Any]) -> tuple[int, bytes]:
    parts = urlsplit(base_url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    try:
        body = json.dumps(payload, ensure_ascii=False).encode()
        connection.request("POST", path, body=body, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


class PerNumberClient:
    """One number per request, a new connection per call, sequential; signed with smsgw.providers.signing."""

    def __init__(self, provider: str, base_url: str, key: str, secret: str) -> None:
        self.provider, self.base_url, self.key, self.secret = provider, base_url, key, secret

    def send_one(self, recipient: Recipient, content: str) -> bool:
        timestamp = beijing_timestamp()
        signature = sign(self.key, timestamp, self.secret)
        if self.provider == "230sms":
            payload = {
                "apikey": self.key,
                "timestamp": timestamp,
                "sign": signature,
                "mobile": f"{recipient.country_code}{recipient.national}",
                "content": content,
            }
            status, raw = _post_on_new_connection(self.base_url, PATHS["230sms"], payload)
            return status == 200 and json.loads(raw).get("status") == "000"
        payload = {  # the vendor's SDKs send datetime as a string
            "app_id": self.key,
            "datetime": timestamp,
            "sign": signature,
            "mobile": [recipient.national],
            "content": content,
        }
        status, _ = _post_on_new_connection(self.base_url, PATHS["cmessages"], payload)
        return status == 200


@dataclass
class Baseline:
    provider: str
    sample: int
    wall_s: float
    ok: int
    requests: int

    @property
    def per_number_s(self) -> float:
        return self.wall_s / self.sample

    def estimate(self, n: int) -> float:
        return self.per_number_s * n


def per_number_baseline(stack: Stack, sample: int) -> dict[str, Baseline]:
    clients = {
        "230sms": PerNumberClient("230sms", stack.sms230.url, stack.sms230.apikey, stack.sms230.apisecret),
        "cmessages": PerNumberClient("cmessages", stack.cm.url, stack.cm.app_id, stack.cm.app_key),
    }
    batch = recipients(sample)
    found = {}
    for provider, client in clients.items():
        before = wire_requests(stack, provider)
        start = time.perf_counter()
        ok = sum(client.send_one(r, "Your parcel has shipped") for r in batch)
        wall = time.perf_counter() - start
        found[provider] = Baseline(provider, sample, wall, ok, wire_requests(stack, provider) - before)
    return found


# -- (ii) through the send handler -----------------------------------------------------------------

PHASES = {
    "parse": (send_request.SendRequest, "parse"),
    "blocklist": (blocklist.Blocklist, "blocked"),
    "quota": (limits.Limits, "consume_recipients"),
    "provider": (service, "dispatch"),
    "record": (service, "_store"),
}


@dataclass
class HandlerRun:
    provider: str
    n: int
    status: int
    summary: dict[str, int]
    wall_s: float
    phases_s: dict[str, float]
    requests: int
    dynamodb: dict[str, int]
    written: int  # DynamoDB items put or updated by the send
    put_units: int  # their write units (1 per started KB)
    answer_bytes: int

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "recipients_per_s": self.n / self.wall_s}


def handler_layer(stack: Stack, sizes: tuple[int, ...]) -> list[HandlerRun]:
    timers = Timers()
    for name, (owner, attribute) in PHASES.items():
        timers.wrap(owner, attribute, name)
    runs = []
    try:
        stack.invoke("send", send_event({"to": cn_numbers(2), "content": "warm-up"}, "bench-warm-up"))
        for n in sizes:
            for provider in PROVIDERS:
                body = {"to": cn_numbers(n), "content": "Your parcel has shipped", "provider": provider}
                # One API key per run: the per-key quota is 10,000 recipients a minute.
                lambda_event = send_event(body, f"bench-bulk-{provider}-{n}")
                before = wire_requests(stack, provider)
                timers.reset()
                stack.dynamodb.reset()
                start = time.perf_counter()
                response = stack.invoke("send", lambda_event)
                wall = time.perf_counter() - start
                phases = timers.snapshot()
                phases["other"] = max(0.0, wall - sum(phases.values()))
                calls = stack.dynamodb.snapshot()
                runs.append(
                    HandlerRun(
                        provider,
                        n,
                        int(response["statusCode"]),
                        body_of(response).get("summary", {}),
                        wall,
                        phases,
                        wire_requests(stack, provider) - before,
                        calls["ops"],
                        calls["written"],
                        calls["put_units"],
                        len(str(response.get("body") or "").encode()),
                    )
                )
    finally:
        timers.restore()
    return runs
