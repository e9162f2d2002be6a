"""The dispatcher: POST each queued event to its endpoint, signed (Standard Webhooks), and keep
trying until a 2xx or the schedule ends.

- Only 2xx is success. 410 Gone disables the endpoint at once. Anything else (a status, a timeout,
  a refused connection) is tried again after RETRY_DELAYS, Svix's schedule (the first retry at
  once), each with ±10% jitter; `Retry-After` on 429/503 is honoured when longer. The delay is held
  by the queue itself: the message's visibility timeout is set to it (SQS allows 12 hours), and it
  comes back as the next attempt. After the last, the queue's redrive moves it to the dead-letter
  queue, where `/recover` finds it.
- The endpoint's host is resolved at every attempt and each address checked: private, loopback,
  link-local (169.254.169.254, the metadata service), unique-local (fd00::/8) and the like are
  refused, so a name that later points inward (DNS rebinding) reaches nothing.
- 15 s for the whole attempt; no redirect is followed; the body carries no secret.
"""

import functools
import ipaddress
import json
import random
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import boto3
import urllib3
from aws_lambda_powertools.metrics import MetricUnit

from smsgw.platform.config import settings
from smsgw.platform.errors import NotFound
from smsgw.platform.observability import count, logger, observe
from smsgw.webhooks.endpoints import LOOPBACK_HOSTS, Endpoint, Endpoints, endpoints
from smsgw.webhooks.signing import headers

RETRY_DELAYS = (0, 5, 300, 1800, 7200, 18000, 36000, 36000)
ATTEMPTS = len(RETRY_DELAYS) + 1  # the queue's maxReceiveCount
TIMEOUT = urllib3.Timeout(total=15.0, connect=5.0)  # the whole attempt, as receivers are told
ATTEMPTS_KEPT_DAYS = 30
POSTS_AT_ONCE = 10  # a batch's POSTs side by side


class UnsafeAddress(Exception):
    pass


def resolve_safely(url: str, allow_loopback: bool) -> None:
    """Raise UnsafeAddress unless every address the URL's host has now is on the public internet
    (or this machine, where the local stack allows it)."""
    host = urlsplit(url).hostname or ""
    loopback_ok = allow_loopback and host in LOOPBACK_HOSTS
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except socket.gaierror as error:
        raise UnsafeAddress(f"{host} does not resolve: {error}") from None
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if not address.is_global and not (loopback_ok and address.is_loopback):
            raise UnsafeAddress(f"{host} resolves to a non-public address")


@dataclass
class Attempt:
    """One queued delivery on its way: what it goes to, and what the receiver answered."""

    message: dict[str, Any]
    attempt: int
    endpoint: Endpoint
    url: str
    secrets: list[str]
    status: int | None = None
    retry_after: float = 0.0
    error: str = ""
    latency: float = 0.0

    @property
    def subject(self) -> str:
        data = self.message["event"].get("data") or {}
        return str(data.get("message_id") or data.get("campaign_id") or self.message["event_id"])

    @property
    def callback(self) -> bool:
        """To a send's own status_callback: its failures say nothing of the endpoint."""
        return "url" in self.message


class Dispatcher:
    """Delivers a batch: endpoints read once a few seconds per container, the POSTs side by side,
    the attempts' records in one batch write."""

    ENDPOINT_CACHE_SECONDS = 5.0

    def __init__(
        self,
        store: Endpoints,
        http: urllib3.PoolManager,
        clock: Callable[[], float] = time.time,
        allow_loopback: bool = False,
    ) -> None:
        self.store, self.http, self.clock, self.allow_loopback = store, http, clock, allow_loopback
        self.sqs: Any = boto3.client("sqs")
        self._endpoints: dict[tuple[str | None, str], tuple[float, Endpoint | None]] = {}

    def deliver(self, message: dict[str, Any], attempt: int) -> float | None:
        return self.deliver_all([(message, attempt)])[0]

    def deliver_all(self, batch: list[tuple[dict[str, Any], int]]) -> list[float | None]:
        """One attempt each. For each: None when done with it (delivered, or kept for /recover);
        else the seconds to wait before the next attempt (0 after the last: the queue's redrive then
        moves it to the dead-letter queue)."""
        ready = [self._prepare(message, attempt) for message, attempt in batch]
        posts = [a for a in ready if a is not None]
        by_subject: dict[str, list[Attempt]] = {}  # one message's (one campaign's) events in order
        for a in posts:
            by_subject.setdefault(a.subject, []).append(a)
        if posts:
            with ThreadPoolExecutor(max_workers=min(POSTS_AT_ONCE, len(by_subject))) as pool:
                list(pool.map(self._post_in_order, by_subject.values()))
        delays = [None if a is None else self._settle(a) for a in ready]
        self._write_attempts(posts, delays=[d for a, d in zip(ready, delays, strict=True) if a is not None])
        return delays

    def _endpoint(self, tenant: str | None, endpoint_id: str) -> Endpoint | None:
        now = self.clock()
        fetched, endpoint = self._endpoints.get((tenant, endpoint_id), (0.0, None))
        if now - fetched > self.ENDPOINT_CACHE_SECONDS:
            try:
                endpoint = self.store.get(tenant, endpoint_id)
            except NotFound:
                endpoint = None  # deleted since
            self._endpoints[(tenant, endpoint_id)] = (now, endpoint)
        return endpoint

    def _prepare(self, message: dict[str, Any], attempt: int) -> Attempt | None:
        endpoint = self._endpoint(message["tenant"], message["endpoint_id"])
        if endpoint is None:
            return None
        callback = message.get("url")
        if callback is None and not endpoint.wants(message["event"]["type"]):
            return None
        if callback is None and not endpoint.enabled:
            self.store.keep_failed(endpoint.endpoint_id, message)
            return None
        return Attempt(
            message, attempt, endpoint, callback or endpoint.url, self.store.live_secrets(endpoint)
        )

    def _post_in_order(self, attempts: list[Attempt]) -> None:
        for attempt in attempts:
            self._post(attempt)

    def _post(self, attempt: Attempt) -> None:
        """The HTTP part, run side by side: no AWS call in it."""
        body = json.dumps(attempt.message["event"], separators=(",", ":"), ensure_ascii=False).encode()
        started = self.clock()
        try:
            resolve_safely(attempt.url, self.allow_loopback)
            signed = headers(attempt.secrets, attempt.message["event_id"], int(self.clock()), body)
            answer = self.http.request(
                "POST",
                attempt.url,
                body=body,
                headers={"Content-Type": "application/json", "User-Agent": "sms-gateway-webhooks", **signed},
                timeout=TIMEOUT,
                redirect=False,
                retries=False,
                preload_content=True,
            )
            attempt.status, attempt.retry_after = (
                answer.status,
                _retry_after(answer.headers.get("Retry-After")),
            )
        except (UnsafeAddress, urllib3.exceptions.HTTPError) as error:
            attempt.error = type(error).__name__
        attempt.latency = self.clock() - started

    def _settle(self, a: Attempt) -> float | None:
        endpoint, status = a.endpoint, a.status
        delivered = status is not None and 200 <= status < 300
        if a.callback:
            gone = status == 410
        else:
            gone = status == 410 or (not delivered and self.store.note_outcome(endpoint, delivered=False))
            if delivered and endpoint.failing_since is not None:
                self.store.note_outcome(endpoint, delivered=True)
            if not delivered or endpoint.failing_since is not None:  # its item changed: read it again
                self._endpoints.pop((endpoint.tenant, endpoint.endpoint_id), None)
        last = a.attempt >= ATTEMPTS
        if delivered:
            count("WebhooksDelivered", 1)
            observe("WebhookDeliveryLatency", [self._since(a.message["event"])], MetricUnit.Seconds)
            return None
        count("WebhookAttemptsFailed", 1)
        if status == 410 and not a.callback:
            self.store.disable(endpoint, "the receiver answered 410 Gone")
        if gone and not a.callback:
            count("WebhookEndpointsDisabled", 1)
            self._endpoints.pop((endpoint.tenant, endpoint.endpoint_id), None)
        if gone or last:
            self.store.keep_failed(endpoint.endpoint_id, a.message)
            count("WebhookEventsExhausted", 1)
            return 0.0 if last and not gone else None
        return self._delay(a.attempt, a.retry_after)

    def _delay(self, attempt: int, retry_after: float) -> float:
        base = RETRY_DELAYS[min(attempt, len(RETRY_DELAYS)) - 1]
        jittered = base * random.uniform(0.9, 1.1)  # noqa: S311  # nosec B311 - spreading retries, not a secret
        return min(max(jittered, retry_after), 12 * 3600.0)

    def _since(self, event: dict[str, Any]) -> float:
        try:
            changed = datetime.fromisoformat(str(event.get("timestamp", "")).replace("Z", "+00:00"))
        except ValueError:
            return 0.0
        return max(0.0, self.clock() - changed.timestamp())

    def _write_attempts(self, attempts: list[Attempt], delays: list[float | None]) -> None:
        """The attempts, for GET /webhooks/endpoints/{id}/deliveries (kept ATTEMPTS_KEPT_DAYS): one
        batch write. A record is for reading: the deliveries go on without it."""
        now = self.clock()
        items = []
        for a, delay in zip(attempts, delays, strict=True):
            item: dict[str, Any] = {
                "pk": "att#" + a.endpoint.endpoint_id,
                "sk": f"{datetime.fromtimestamp(now, UTC).isoformat()}#{a.message['event_id']}",
                "event_id": a.message["event_id"],
                "type": a.message["event"]["type"],
                "attempt": a.attempt,
                "latency_ms": int(a.latency * 1000),
                "expires_at": int(now + ATTEMPTS_KEPT_DAYS * 86400),
            }
            if a.status is not None:
                item["status_code"] = a.status
            if a.error:
                item["error"] = a.error
            if delay is not None:
                item["next_attempt_at"] = datetime.fromtimestamp(now + delay, UTC).isoformat()
            items.append(item)
        try:
            with self.store.table.batch_writer(overwrite_by_pkeys=["pk", "sk"]) as writer:
                for item in items:
                    writer.put_item(Item=item)
        except Exception:
            logger.warning("webhook attempts not recorded", exc_info=True)


def _retry_after(value: str | None) -> float:
    try:
        return max(0.0, float(value)) if value else 0.0
    except ValueError:
        return 0.0


def dispatch_batch(records: list[Any], dispatcher: "Dispatcher | None" = None) -> dict[str, Any]:
    """An SQS batch: each delivery attempted once; the ones to try again are set to come back after
    their delay and reported failed (partial batch response)."""
    dispatcher = dispatcher or _dispatcher()
    failures = []
    batch = [(json.loads(r.body), int(r.attributes.approximate_receive_count)) for r in records]
    for record, delay in zip(records, dispatcher.deliver_all(batch), strict=True):
        if delay is None:
            continue
        dispatcher.sqs.change_message_visibility(
            QueueUrl=settings().webhook_queue_url,
            ReceiptHandle=record.receipt_handle,
            VisibilityTimeout=int(delay),
        )
        failures.append({"itemIdentifier": record.message_id})
    return {"batchItemFailures": failures}


@functools.cache
def _dispatcher() -> Dispatcher:
    pool = urllib3.PoolManager(num_pools=16, maxsize=4, block=False, retries=False)
    return Dispatcher(endpoints(), pool, allow_loopback=settings().webhook_allow_loopback)
