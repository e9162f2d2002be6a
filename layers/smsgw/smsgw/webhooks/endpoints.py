"""A tenant's webhook endpoints, in the webhooks table: where its events go, which ones, and the
secrets that sign them, each encrypted under the stack's KMS key (bound to its endpoint by the
encryption context) and never returned after creation or rotation.

Items: `pk` = "hook#<tenant>", `sk` = "ep#<endpoint id>". A rotated secret keeps signing beside its
successor for ROTATION_OVERLAP, so a receiver that has not switched yet verifies every delivery.
"""

import base64
import functools
import ipaddress
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.exceptions import ClientError

from smsgw.platform.config import settings
from smsgw.platform.errors import FieldError, NotFound, ValidationError
from smsgw.webhooks.signing import new_secret

EVENT_TYPES = (
    "message.sending",
    "message.delivered",
    "message.failed",
    "message.unknown",
    "campaign.started",
    "campaign.finished",
    "campaign.cancelled",
    "verification.approved",
    "verification.expired",
    "webhook.test",
)
ROTATION_OVERLAP = 24 * 3600
FAILING_DISABLES_AFTER = 5 * 86400  # an endpoint failing every attempt this long is disabled
FAILED_KEPT_DAYS = 30  # events that were never delivered, for /recover
MAX_ENDPOINTS = 10  # per tenant: each event is one delivery per endpoint
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


@dataclass(frozen=True)
class EndpointSpec:
    url: str
    event_types: tuple[str, ...]
    description: str = ""

    @classmethod
    def parse(cls, body: Any, allow_loopback: bool = False) -> "EndpointSpec":
        if not isinstance(body, dict):
            raise ValidationError.single("body", "must be a JSON object")
        problems = [
            FieldError(k[:64], "unknown field")
            for k in body
            if k not in {"url", "event_types", "description"}
        ]
        url = body.get("url")
        if problem := url_problem(url, allow_loopback):
            problems.append(FieldError("url", problem))
        types = body.get("event_types", list(EVENT_TYPES))
        if not isinstance(types, list) or not types or any(t not in EVENT_TYPES for t in types):
            problems.append(
                FieldError("event_types", "must be a non-empty list of: " + ", ".join(EVENT_TYPES))
            )
        description = body.get("description", "")
        if not isinstance(description, str) or len(description) > 200:
            problems.append(FieldError("description", "must be text of at most 200 characters"))
        if problems:
            raise ValidationError(problems)
        return cls(str(url), tuple(dict.fromkeys(types)), description)


def recover_since(body: Any, now: float) -> float:
    """`{"since": ISO 8601 with a zone}`: within the FAILED_KEPT_DAYS the failed events are kept."""
    if not isinstance(body, dict) or set(body) != {"since"}:
        raise ValidationError.single("since", "is required, and the only field")
    try:
        since = datetime.fromisoformat(str(body["since"]).replace("Z", "+00:00"))
    except ValueError:
        since = None
    if since is None or since.tzinfo is None:
        raise ValidationError.single(
            "since", "must be an ISO 8601 time with its zone, e.g. 2026-12-01T00:00:00Z"
        )
    if not now - FAILED_KEPT_DAYS * 86400 <= since.timestamp() <= now:
        raise ValidationError.single("since", f"must be within the last {FAILED_KEPT_DAYS} days")
    return since.timestamp()


def url_problem(url: object, allow_loopback: bool = False) -> str | None:
    """Why `url` may not receive events: https only (plain http to this machine where the local stack
    allows it), no credentials in it, no address literal of a private network."""
    if not isinstance(url, str) or len(url) > 2048:
        return "must be an https URL of at most 2,048 characters"
    parts = urlsplit(url)
    host = parts.hostname or ""
    loopback = allow_loopback and host in LOOPBACK_HOSTS
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        return "must be an https URL"
    if not host or parts.username or parts.password or parts.fragment:
        return "must name a host, with no credentials or fragment"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None  # a name: its addresses are checked at every delivery
    if not address.is_global and not loopback:
        return "must not be a private, loopback or link-local address"
    return None


@dataclass
class Endpoint:
    tenant: str | None
    endpoint_id: str
    url: str
    event_types: tuple[str, ...]
    description: str
    created_at: int
    enabled: bool = True
    disabled_reason: str = ""
    secrets: list[dict[str, Any]] = field(default_factory=list)  # {"blob", "expires_at"?}, newest first
    failing_since: float | None = None  # the first failed attempt since the last success

    def view(self) -> dict[str, Any]:
        return {
            "endpoint_id": self.endpoint_id,
            "url": self.url,
            "event_types": list(self.event_types),
            "description": self.description,
            "enabled": self.enabled,
            "disabled_reason": self.disabled_reason or None,
            "created_at": self.created_at,
        }

    def wants(self, event_type: str) -> bool:
        return event_type in self.event_types or event_type == "webhook.test"


class Endpoints:
    def __init__(self, table_name: str, key_id: str, clock: Callable[[], float] = time.time) -> None:
        self.table_name, self.key_id, self.clock = table_name, key_id, clock
        self.table: Any = boto3.resource("dynamodb").Table(table_name)
        self.kms: Any = boto3.client("kms")

    def create(self, tenant: str | None, spec: EndpointSpec) -> tuple[Endpoint, str]:
        if len(self.of_tenant(tenant)) >= MAX_ENDPOINTS:
            raise ValidationError.single("url", f"a tenant has at most {MAX_ENDPOINTS} endpoints")
        endpoint_id = "ep_" + uuid.uuid4().hex
        secret = new_secret()
        endpoint = Endpoint(
            tenant,
            endpoint_id,
            spec.url,
            spec.event_types,
            spec.description,
            int(self.clock()),
            secrets=[{"blob": self._encrypt(endpoint_id, secret)}],
        )
        self.table.put_item(Item=_item(endpoint), ConditionExpression="attribute_not_exists(pk)")
        return endpoint, secret

    def of_tenant(self, tenant: str | None) -> list[Endpoint]:
        answer = self.table.query(
            KeyConditionExpression="pk = :pk AND begins_with(sk, :ep)",
            ExpressionAttributeValues={":pk": _pk(tenant), ":ep": "ep#"},
        )
        return [_endpoint(item) for item in answer.get("Items", [])]

    def get(self, tenant: str | None, endpoint_id: str) -> Endpoint:
        found = self.table.get_item(Key={"pk": _pk(tenant), "sk": "ep#" + endpoint_id[:64]}).get("Item")
        if not found:
            raise NotFound(f"no endpoint {endpoint_id[:64]}")
        return _endpoint(found)

    def delete(self, tenant: str | None, endpoint_id: str) -> None:
        self.get(tenant, endpoint_id)
        self.table.delete_item(Key={"pk": _pk(tenant), "sk": "ep#" + endpoint_id})

    def rotate(self, tenant: str | None, endpoint_id: str) -> str:
        """A new secret, signing from now; the previous one signs beside it for ROTATION_OVERLAP."""
        endpoint = self.get(tenant, endpoint_id)
        now = self.clock()
        secret = new_secret()
        kept = [s for s in endpoint.secrets if float(s.get("expires_at", now + 1)) > now][:1]
        previous = [{**s, "expires_at": int(now + ROTATION_OVERLAP)} for s in kept]
        secrets = [{"blob": self._encrypt(endpoint_id, secret)}, *previous]
        key = {"pk": _pk(tenant), "sk": "ep#" + endpoint_id}
        if not self._update(key, "SET secrets = :secrets", {":secrets": secrets}):
            raise NotFound(f"no endpoint {endpoint_id[:64]}")
        return secret

    def disable(self, endpoint: Endpoint, reason: str) -> None:
        key = {"pk": _pk(endpoint.tenant), "sk": "ep#" + endpoint.endpoint_id}
        self._update(key, "SET enabled = :no, disabled_reason = :why", {":no": False, ":why": reason})

    def note_outcome(self, endpoint: Endpoint, delivered: bool) -> bool:
        """Keep when the endpoint started failing (one write when that changes, none otherwise);
        True when it has now failed for FAILING_DISABLES_AFTER and is disabled."""
        key = {"pk": _pk(endpoint.tenant), "sk": "ep#" + endpoint.endpoint_id}
        now = self.clock()
        if delivered:
            if endpoint.failing_since is not None:
                self._update(key, "REMOVE failing_since")
            return False
        if endpoint.failing_since is None:
            self._update(key, "SET failing_since = if_not_exists(failing_since, :now)", {":now": int(now)})
            return False
        if now - endpoint.failing_since < FAILING_DISABLES_AFTER:
            return False
        self.disable(endpoint, "every delivery failed for 5 days")
        return True

    def keep_failed(self, endpoint_id: str, delivery: dict[str, Any]) -> None:
        """An event the endpoint never took (retries spent, or the endpoint disabled), for /recover."""
        now = self.clock()
        self.table.put_item(
            Item={
                "pk": "fail#" + endpoint_id,
                "sk": f"{_iso(now)}#{delivery['event_id']}",
                "delivery": json.dumps(delivery, separators=(",", ":")),
                "expires_at": int(now + FAILED_KEPT_DAYS * 86400),
            }
        )

    def recover(self, tenant: str | None, endpoint_id: str, since: float) -> list[dict[str, Any]]:
        """The events the endpoint never took since `since`, once each (and the endpoint enabled
        again: recovering says the receiver is back)."""
        endpoint = self.get(tenant, endpoint_id)
        if not endpoint.enabled:
            key = {"pk": _pk(tenant), "sk": "ep#" + endpoint_id}
            self._update(key, "SET enabled = :yes REMOVE disabled_reason, failing_since", {":yes": True})
        found: dict[str, dict[str, Any]] = {}
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": "pk = :pk AND sk >= :since",
            "ExpressionAttributeValues": {":pk": "fail#" + endpoint_id, ":since": _iso(since)},
        }
        while True:
            page = self.table.query(**kwargs)
            for item in page.get("Items", []):
                delivery = json.loads(str(item["delivery"]))
                found.setdefault(delivery["event_id"], delivery)
            if "LastEvaluatedKey" not in page:
                return list(found.values())
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def attempts(self, tenant: str | None, endpoint_id: str, limit: int = 50) -> list[dict[str, Any]]:
        """The endpoint's latest delivery attempts, newest first."""
        self.get(tenant, endpoint_id)
        answer = self.table.query(
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": "att#" + endpoint_id},
            ScanIndexForward=False,
            Limit=limit,
        )
        shown = ("event_id", "type", "attempt", "status_code", "error", "latency_ms", "next_attempt_at")
        return [
            {"at": str(i["sk"]).split("#")[0], **{k: _plain(i[k]) for k in shown if k in i}}
            for i in answer.get("Items", [])
        ]

    def live_secrets(self, endpoint: Endpoint) -> list[str]:
        """The secrets that sign now, newest first (decrypted; kept in this container)."""
        now = self.clock()
        live = [s for s in endpoint.secrets if float(s.get("expires_at", now + 1)) > now]
        return [self._decrypt(endpoint.endpoint_id, str(s["blob"])) for s in live]

    def _update(self, key: dict[str, str], expression: str, values: dict[str, Any] | None = None) -> bool:
        """An UpdateItem on an endpoint that exists: False, and nothing written, once it is deleted
        (an unconditional update would make a new, partial item)."""
        request: dict[str, Any] = {
            "Key": key,
            "UpdateExpression": expression,
            "ConditionExpression": "attribute_exists(pk)",
        }
        if values:
            request["ExpressionAttributeValues"] = values
        try:
            self.table.update_item(**request)
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return False
        return True

    def _encrypt(self, endpoint_id: str, secret: str) -> str:
        blob = self.kms.encrypt(
            KeyId=self.key_id, Plaintext=secret.encode(), EncryptionContext={"endpoint": endpoint_id}
        )["CiphertextBlob"]
        return base64.b64encode(blob).decode()

    @functools.lru_cache(maxsize=256)  # noqa: B019 - one store per container, its secrets with it
    def _decrypt(self, endpoint_id: str, blob: str) -> str:
        answer = self.kms.decrypt(
            CiphertextBlob=base64.b64decode(blob), EncryptionContext={"endpoint": endpoint_id}
        )
        return bytes(answer["Plaintext"]).decode()


def _plain(value: Any) -> Any:
    """DynamoDB's numbers (Decimal) as JSON numbers."""
    return int(value) if hasattr(value, "as_integer_ratio") and not isinstance(value, float) else value


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _pk(tenant: str | None) -> str:
    return f"hook#{tenant or '-'}"


def _item(endpoint: Endpoint) -> dict[str, Any]:
    return {
        "pk": _pk(endpoint.tenant),
        "sk": "ep#" + endpoint.endpoint_id,
        "tenant": endpoint.tenant or "-",
        "url": endpoint.url,
        "event_types": list(endpoint.event_types),
        "description": endpoint.description,
        "created_at": endpoint.created_at,
        "enabled": endpoint.enabled,
        "secrets": endpoint.secrets,
    }


def _endpoint(item: dict[str, Any]) -> Endpoint:
    tenant = str(item["tenant"])
    return Endpoint(
        None if tenant == "-" else tenant,
        str(item["sk"]).removeprefix("ep#"),
        str(item["url"]),
        tuple(item.get("event_types", EVENT_TYPES)),
        str(item.get("description", "")),
        int(item.get("created_at", 0)),
        bool(item.get("enabled", True)),
        str(item.get("disabled_reason", "")),
        list(item.get("secrets", [])),
        float(item["failing_since"]) if "failing_since" in item else None,
    )


@functools.cache
def endpoints() -> Endpoints:
    config = settings()
    return Endpoints(config.webhooks_table, config.webhook_key_id)
