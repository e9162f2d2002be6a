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
TIMEOUT = urllib3.Timeout(connect=5.0, read=15.0)
ATTEMPTS_KEPT_DAYS = 30


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


class Dispatcher:
    def __init__(
        self,
        store: Endpoints,
        http: urllib3.PoolManager,
        clock: Callable[[], float] = time.time,
        allow_loopback: bool = False,
    ) -> None:
        self.store, self.http, self.clock, self.allow_loopback = store, http, clock, allow_loopback
        self.sqs: Any = boto3.client("sqs")

    def deliver(self, message: dict[str, Any], attempt: int) -> float | None:
        """One attempt. None when done with it (delivered, or kept for /recover); else the seconds
        to wait before the next attempt (0 after the last: the queue's redrive then moves it to the
        dead-letter queue)."""
        try:
            endpoint = self.store.get(message["tenant"], message["endpoint_id"])
        except NotFound:
            return None  # deleted since
        event, callback = message["event"], message.get("url")
        if callback is None and not endpoint.wants(event["type"]):
            return None
        if callback is None and not endpoint.enabled:
            self.store.keep_failed(endpoint.endpoint_id, message)
            return None
        body = json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()
        started = self.clock()
        status, retry_after, error = self._post(endpoint, callback or endpoint.url, message["event_id"], body)
        latency = self.clock() - started
        delivered = status is not None and 200 <= status < 300
        if callback is not None:  # a send's own URL: its failures say nothing of the endpoint
            gone = status == 410
        else:
            gone = status == 410 or (not delivered and self.store.note_outcome(endpoint, delivered=False))
            if delivered:
                self.store.note_outcome(endpoint, delivered=True)
        last = attempt >= ATTEMPTS
        delay = None if delivered or gone else (0.0 if last else self._delay(attempt, retry_after))
        self._record(
            endpoint, message, attempt=attempt, status=status, error=error, latency=latency, delay=delay
        )
        if delivered:
            count("WebhooksDelivered", 1)
            observe("WebhookDeliveryLatency", [self._since(event)], MetricUnit.Seconds)
            return None
        count("WebhookAttemptsFailed", 1)
        if status == 410 and callback is None:
            self.store.disable(endpoint, "the receiver answered 410 Gone")
        if gone and callback is None:
            count("WebhookEndpointsDisabled", 1)
        if gone or last:
            self.store.keep_failed(endpoint.endpoint_id, message)
            count("WebhookEventsExhausted", 1)
        return delay

    def _post(
        self, endpoint: Endpoint, url: str, event_id: str, body: bytes
    ) -> tuple[int | None, float, str]:
        try:
            resolve_safely(url, self.allow_loopback)
            signed = headers(self.store.live_secrets(endpoint), event_id, int(self.clock()), body)
            answer = self.http.request(
                "POST",
                url,
                body=body,
                headers={"Content-Type": "application/json", "User-Agent": "sms-gateway-webhooks", **signed},
                timeout=TIMEOUT,
                redirect=False,
                retries=False,
                preload_content=True,
            )
        except (UnsafeAddress, urllib3.exceptions.HTTPError) as error:
            return None, 0.0, type(error).__name__
        return answer.status, _retry_after(answer.headers.get("Retry-After")), ""

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

    def _record(
        self,
        endpoint: Endpoint,
        message: dict[str, Any],
        *,
        attempt: int,
        status: int | None,
        error: str,
        latency: float,
        delay: float | None,
    ) -> None:
        """The attempt, for GET /webhooks/endpoints/{id}/deliveries (kept ATTEMPTS_KEPT_DAYS)."""
        now = self.clock()
        item: dict[str, Any] = {
            "pk": "att#" + endpoint.endpoint_id,
            "sk": f"{datetime.fromtimestamp(now, UTC).isoformat()}#{message['event_id']}",
            "event_id": message["event_id"],
            "type": message["event"]["type"],
            "attempt": attempt,
            "latency_ms": int(latency * 1000),
            "expires_at": int(now + ATTEMPTS_KEPT_DAYS * 86400),
        }
        if status is not None:
            item["status_code"] = status
        if error:
            item["error"] = error
        if delay is not None:
            item["next_attempt_at"] = datetime.fromtimestamp(now + delay, UTC).isoformat()
        try:
            self.store.table.put_item(Item=item)
        except Exception:  # the attempt's record is for reading; the delivery goes on without it
            logger.warning("webhook attempt not recorded", exc_info=True)


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
    for record in records:
        attempt = int(record.attributes.approximate_receive_count)
        delay = dispatcher.deliver(json.loads(record.body), attempt)
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
