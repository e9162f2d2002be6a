"""Warm overhead: per-invocation time of the handlers once the container is warm.

Moto runs in-process and the sandboxes answer at once. Around every invocation, timers sum the wall
time spent inside botocore calls (`BaseClient._make_api_call`: serialising, signing, Moto's work,
parsing), inside provider HTTP (the providers' `post_json`) and in the 230sms pacer's own wait
(the account rate's DynamoDB call inside it counts as AWS time). The
overhead is the handler's wall time minus those: Powertools, validation, our code, logging.
"""

import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import cycle
from typing import Any

from botocore.client import BaseClient

from local_stack.events import status_event
from smsgw.providers import base
from smsgw.providers.account_rate import AccountRate

from .stack import (
    Stack,
    Timers,
    body_of,
    cn_numbers,
    event,
    receipt_event,
    send_event,
)
from .stack import context as stack_context

INVOCATIONS = 200
WARM_UPS = 5


@dataclass
class WarmRun:
    handler: str
    what: str
    totals: list[float] = field(default_factory=list)
    aws: list[float] = field(default_factory=list)
    http: list[float] = field(default_factory=list)
    pacer: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    dynamodb: dict[str, int] = field(default_factory=dict)  # call shape -> invocations

    @property
    def overheads(self) -> list[float]:
        parts = zip(self.totals, self.aws, self.http, self.pacer, strict=True)
        return [total - aws - http - pacer for total, aws, http, pacer in parts]

    def summary(self) -> dict[str, Any]:
        return {
            "handler": self.handler,
            "what": self.what,
            "invocations": len(self.totals),
            "raw_median_ms": _ms(statistics.median(self.totals)),
            "aws_median_ms": _ms(statistics.median(self.aws)),
            "provider_http_median_ms": _ms(statistics.median(self.http)),
            "pacer_median_ms": _ms(statistics.median(self.pacer)),
            "overhead_median_ms": _ms(statistics.median(self.overheads)),
            "overhead_p90_ms": _ms(statistics.quantiles(self.overheads, n=10)[-1]),
            "statuses": self.statuses,
            "dynamodb_calls_per_invocation": self.dynamodb,
        }


def _ms(seconds: float) -> float:
    return round(1000 * seconds, 3)


def _shape(ops: dict[str, int]) -> str:
    return ", ".join(f"{name} x{calls}" for name, calls in sorted(ops.items())) or "none"


def _events(stack: Stack, invocations: int) -> dict[str, tuple[str, Iterator[dict[str, Any]]]]:
    """An endless supply of realistic events per handler; receipts go to messages actually sent."""
    count = invocations + WARM_UPS
    body = {"to": cn_numbers(count, start=13700000000), "content": "receipt me", "provider": "230sms"}
    sent = body_of(stack.invoke("send", send_event(body, "bench-warm-setup")))["messages"]
    receipts = []
    for message in sent:
        taskid = message["message_id"].split("-")[1]
        mobile = message["to"].lstrip("+")
        receipts.append({"apikey": stack.sms230.apikey, "taskid": taskid, "mobile": mobile})
    ids = [m["message_id"] for m in sent]

    def receipt(fields: dict[str, str]) -> dict[str, Any]:
        return receipt_event({**fields, "status": "DELIVRD", "times": "2026-11-23 17:42"})

    one = {"to": ["+8617072440811"], "content": "Your code is 123456"}
    return {
        "balance": ("GET /sms/balance (cmessages balance call)", cycle([event("balance")])),
        "message_status": (
            "GET /sms/messages/{id} (one BatchGetItem of 2 keys)",
            (_as_sender(status_event(i)) for i in cycle(ids)),
        ),
        "send": ("POST /sms/send, 1 recipient, 230sms", cycle([send_event(one, "bench-warm")])),
        "callback": ("POST /callbacks/230sms/{token} (one receipt)", (receipt(r) for r in receipts)),
    }


def _as_sender(lookup: dict[str, Any]) -> dict[str, Any]:
    """A lookup by the API key that sent the message (each key sees only its own: per-key tenancy)."""
    lookup["requestContext"]["identity"]["apiKeyId"] = "bench-warm-setup"
    return lookup


def measure(stack: Stack, invocations: int = INVOCATIONS) -> list[WarmRun]:
    stack.cm.faults.clear()
    stack.sms230.faults.clear()
    timers = Timers()
    timers.wrap(BaseClient, "_make_api_call", "aws")
    timers.wrap(base, "post_json", "http")  # every provider's requests go through it
    timers.wrap(base.RequestPacer, "wait", "pacer")
    # The account's shared rate runs inside the pacer: its DynamoDB call is already under "aws".
    timers.wrap(AccountRate, "acquire", "rate")
    runs = []
    try:
        for handler, (what, supply) in _events(stack, invocations).items():
            run = WarmRun(handler, what)
            invoke: Callable[[dict[str, Any]], Any] = stack.handler(handler).lambda_handler
            context = stack_context()
            for number in range(WARM_UPS + invocations):
                lambda_event = next(supply)
                timers.reset()
                stack.dynamodb.reset()
                start = time.perf_counter()
                response = invoke(lambda_event, context)
                total = time.perf_counter() - start
                if number < WARM_UPS:
                    continue
                spent = timers.snapshot()
                run.totals.append(total)
                run.aws.append(spent.get("aws", 0.0))
                run.http.append(spent.get("http", 0.0))
                run.pacer.append(spent.get("pacer", 0.0) - spent.get("rate", 0.0))
                status = int(response["statusCode"])
                run.statuses[status] = run.statuses.get(status, 0) + 1
                shape = _shape(stack.dynamodb.snapshot()["ops"])
                run.dynamodb[shape] = run.dynamodb.get(shape, 0) + 1
            runs.append(run)
    finally:
        timers.restore()
    return runs
