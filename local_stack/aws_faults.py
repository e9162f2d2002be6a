"""AWS being unwell, for the local stack and the tests: faults injected where the AWS SDK meets the
network. botocore's `before-send` event answers a share of the calls as AWS answers when it is
unwell, before the request leaves; everything above it (botocore's own retries, the gateway's
handling of what is left) runs as in production. Nothing in the layer knows.

A plan names the share of each service's calls to fail, e.g. `dynamodb=0.1,s3=0.1,sqs=0.1` (the
local stack's `AWS_FAULTS` setting); `secretsmanager=cold` makes Secrets Manager unreachable for each
container's first call (a cold start whose first read fails). The faults, by call:

- DynamoDB BatchWriteItem: answered with every item back in `UnprocessedItems` (nothing written);
- DynamoDB TransactWriteItems: `TransactionCanceledException`, every reason `TransactionConflict`
  (nothing written), as contention on an item answers;
- any other DynamoDB call: `ProvisionedThroughputExceededException` or `ThrottlingException`, in turn;
- S3: 503 `SlowDown`; SQS: 500 `InternalError`; Secrets Manager: the endpoint unreachable.
"""

import contextlib
import itertools
import json
import random
import sys
import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import botocore.session
from botocore.awsrequest import AWSResponse, HTTPHeaders
from botocore.exceptions import EndpointConnectionError

COLD = "cold"  # Secrets Manager unreachable at each container's first call
SERVICES = ("dynamodb", "s3", "sqs", "secretsmanager")
DYNAMODB = "com.amazonaws.dynamodb.v20120810#"


@dataclass
class FaultPlan:
    """The share of each service's calls answered with a fault; what was injected, counted."""

    rates: Mapping[str, float]
    cold_secrets: bool = False
    seed: int | None = None
    injected: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)  # noqa: S311  # nosec B311 - a fault schedule, not a secret
        self._lock = threading.Lock()
        self._throttle = itertools.cycle(("ProvisionedThroughputExceededException", "ThrottlingException"))
        self._secrets_reached = False

    @classmethod
    def parse(cls, text: str, seed: int | None = None) -> "FaultPlan":
        """`service=share,...` (share in [0, 1]); `secretsmanager=cold` for a cold start's first read."""
        rates: dict[str, float] = {}
        cold = False
        for part in (p.strip() for p in text.split(",") if p.strip()):
            service, _, value = part.partition("=")
            if service not in SERVICES:
                raise ValueError(f"AWS_FAULTS: unknown service {service!r}; one of {', '.join(SERVICES)}")
            if service == "secretsmanager" and value == COLD:
                cold = True
                continue
            try:
                share = float(value)
            except ValueError:
                raise ValueError(f"AWS_FAULTS: {part!r} is not service=share") from None
            if not 0 <= share <= 1:
                raise ValueError(f"AWS_FAULTS: the share in {part!r} must be within 0 and 1")
            rates[service] = share
        return cls(rates, cold, seed)

    def describe(self) -> str:
        parts = [f"{service}={share:g}" for service, share in self.rates.items()]
        return ",".join([*parts, *(["secretsmanager=cold"] if self.cold_secrets else [])])

    def answer(self, service: str, operation: str, body: bytes) -> AWSResponse | None:
        """The fault for this call, or None to send it (raises for an unreachable endpoint)."""
        with self._lock:
            if service == "secretsmanager" and self.cold_secrets and not self._secrets_reached:
                self._secrets_reached = True
                self.injected["secretsmanager unreachable"] += 1
                raise EndpointConnectionError(endpoint_url="https://secretsmanager (injected fault)")
            if self._random.random() >= self.rates.get(service, 0.0):
                return None
            throttle = next(self._throttle)
        if service == "dynamodb":
            return self._dynamodb(operation, body, throttle)
        self.injected[f"{service} 5xx"] += 1
        if service == "s3":
            xml = b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
            return _response(503, xml, "application/xml")
        if service == "sqs":
            return _json_error(500, "InternalError", "injected fault", "application/x-amz-json-1.0")
        raise EndpointConnectionError(endpoint_url=f"https://{service} (injected fault)")

    def _dynamodb(self, operation: str, body: bytes, throttle: str) -> AWSResponse:
        if operation == "BatchWriteItem":
            self.injected["dynamodb UnprocessedItems"] += 1
            items = json.loads(body).get("RequestItems", {})
            return _response(200, json.dumps({"UnprocessedItems": items}).encode())
        if operation == "TransactWriteItems":
            self.injected["dynamodb TransactionCanceledException"] += 1
            count = len(json.loads(body).get("TransactItems", []))
            reasons = [{"Code": "TransactionConflict", "Message": "injected fault"}] * count
            return _json_error(
                400, "TransactionCanceledException", "injected fault", extra={"CancellationReasons": reasons}
            )
        self.injected[f"dynamodb {throttle}"] += 1
        return _json_error(400, throttle, "injected fault")

    @contextlib.contextmanager
    def installed(self) -> Iterator["FaultPlan"]:
        """Every botocore session made within (boto3's default one, Powertools' own) answers
        through this plan; sessions made before are left alone."""
        plan, made = self, botocore.session.Session.__init__

        def with_faults(session: botocore.session.Session, *args: Any, **kwargs: Any) -> None:
            made(session, *args, **kwargs)
            session.register("before-send", plan._before_send)  # type: ignore[arg-type]

        botocore.session.Session.__init__ = with_faults  # type: ignore[method-assign,assignment]
        try:
            yield self
        finally:
            botocore.session.Session.__init__ = made  # type: ignore[method-assign]

    def report(self) -> str:
        """One line: what was injected in this process."""
        return "aws faults injected: " + json.dumps(dict(sorted(self.injected.items())))

    def _before_send(self, request: Any, event_name: str, **kwargs: Any) -> AWSResponse | None:
        _, service_id, operation = str(event_name).split(".", 2)
        service = service_id.replace("-", "")  # the event names the hyphenated id: secrets-manager
        body = request.body if isinstance(request.body, bytes) else (request.body or "").encode()
        return self.answer(service, operation, body)


@contextlib.contextmanager
def in_this_process(text: str) -> Iterator[None]:
    """The plan `text` for every AWS session this process makes within (none: nothing changes);
    what was injected is reported on stderr at the end, one line (the benchmark adds them up)."""
    if not text:
        yield
        return
    plan = FaultPlan.parse(text)
    with plan.installed():
        try:
            yield
        finally:
            print(plan.report(), file=sys.stderr, flush=True)


class _Raw:
    """What AWSResponse reads a body from."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def _response(status: int, body: bytes, content_type: str = "application/x-amz-json-1.0") -> AWSResponse:
    headers = HTTPHeaders()
    headers["Content-Type"], headers["x-amzn-RequestId"] = content_type, "injected-fault"
    return AWSResponse("https://injected-fault", status, headers, _Raw(body))


def _json_error(
    status: int,
    code: str,
    message: str,
    content_type: str = "application/x-amz-json-1.0",
    extra: dict[str, Any] | None = None,
) -> AWSResponse:
    payload = {"__type": DYNAMODB + code, "message": message, **(extra or {})}
    return _response(status, json.dumps(payload).encode(), content_type)
