"""Powertools Logger, Tracer and Metrics, one of each per container (configured by POWERTOOLS_* env).

Observability never fails a request: once a provider has taken a message, the caller must hear so.
Every metric helper here, and `log_metrics` around each handler, logs a failure to emit and goes on
(a 5xx would make a caller send the code again, and a refused receipt is pushed only three more times).

Every metric the gateway emits is named in METRICS, with the dimensions it carries besides
Powertools' `service`: the dashboard and alarms in template.yaml may name only these (tested), and
dimensions stay cheap (a provider, a small kind; never a number, a key or a tenant).
"""

import functools
import json
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.metrics.base import MetricManager

from smsgw.platform import snapstart

logger = Logger()
# Only what we call: patching everything also imports and patches sqlite3 and friends at cold start.
tracer = Tracer(patch_modules=("botocore", "httplib"))
metrics = Metrics()

PROVIDER, KIND, REASON = "provider", "kind", "reason"
VALUES_PER_LINE = 99  # EMF takes 100 values a metric; Powertools flushes by itself at the 100th

# name -> its dimensions besides `service`.
METRICS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        # sends: per message, when the provider answered
        "MessagesSubmitted": (PROVIDER,),
        "MessagesUnknown": (PROVIDER,),  # the provider may or may not have sent them
        "MessagesFailed": (PROVIDER,),  # refused at send time (nothing sent)
        "NumbersDropped": (PROVIDER,),
        "RecordFailed": (),  # sent, but their request items could not be written
        "CampaignChunksUnknown": (),
        # final statuses, from receipts and polls
        "MessagesDelivered": (PROVIDER,),
        "MessagesUndelivered": (PROVIDER,),
        "DeliveryLatency": (PROVIDER,),  # Seconds, submitted -> delivered
        "StatusesSettled": (PROVIDER,),
        "NumbersNotTaken": (PROVIDER,),
        "RequestsClosed": (),
        "ReceiptsStored": (PROVIDER,),
        "ReceiptsRepeated": (PROVIDER,),
        "ReceiptsUnmatched": (PROVIDER,),
        "ReceiptsNotStored": (PROVIDER,),  # the write failed: answered 5xx, the provider pushes again
        "ReceiptsReconciled": (PROVIDER,),
        # provider requests
        "ProviderLatency": (PROVIDER,),  # Milliseconds, each answered HTTP request
        "ProviderErrors": (PROVIDER, KIND),  # per failed request, KIND = the error's problem
        "ProviderBackOffs": (PROVIDER,),  # "slow down" answers (230sms code 105), retried after a pause
        "RateLimitWaits": (PROVIDER,),  # waits for a place in the account's shared rate
        "ProviderBalance": (PROVIDER,),  # gauge, the provider's unit
        # verification codes and limits
        "VerificationsSent": (),
        "VerificationsApproved": (),
        "LimitRefusals": (REASON,),
        # webhooks
        "WebhooksDelivered": (),  # a 2xx from the receiver
        "WebhookAttemptsFailed": (),  # any other answer, a timeout or a refused address
        "WebhookEndpointsDisabled": (),  # 410 Gone, or every attempt failed for 5 days
        "WebhookEventsExhausted": (),  # kept for /recover: retries spent, or the endpoint disabled
        "WebhookDeliveryLatency": (),  # Seconds, from the status change to the 2xx
        "WebhookEventsWithoutRequest": (PROVIDER,),  # a status whose request never got recorded
    }
)


def _never_raises[**P](emit: Callable[P, None]) -> Callable[P, None]:
    """`emit`, its failures logged instead of raised (a metric is worth less than the answer)."""

    @functools.wraps(emit)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            emit(*args, **kwargs)
        except Exception:
            logger.warning("metric not written", extra={"metric_helper": emit.__name__}, exc_info=True)

    return guarded


def log_metrics[E, C, R](handler: Callable[[E, C], R]) -> Callable[[E, C], R]:
    """Powertools' `metrics.log_metrics`: the metrics a handler added are flushed after it, whatever
    it returned or raised. A flush that fails (no namespace, a closed stdout) is logged and the
    handler's own answer stands."""

    @functools.wraps(handler)
    def flushed(event: E, context: C) -> R:
        try:
            return handler(event, context)
        finally:
            try:
                metrics.flush_metrics()
            except Exception:
                logger.error("metrics not flushed", exc_info=True)

    return flushed


@_never_raises
def observe(
    name: str,
    value: float | Sequence[float],
    unit: MetricUnit = MetricUnit.Count,
    provider: str | None = None,
    kind: str | None = None,
) -> None:
    """One metric under `provider` (and `kind`), written at once: one EMF line holding up to
    VALUES_PER_LINE values, so a poll's thousand latencies cost a dozen lines, not a thousand. Each
    line is one write, whole even when several threads (a send's chunks) write at once."""
    values = [float(v) for v in ([value] if isinstance(value, int | float) else value)]
    values = [v for v in values if math.isfinite(v)]
    for start in range(0, len(values), VALUES_PER_LINE):
        manager = MetricManager()
        for dimension, given in ((PROVIDER, provider), (KIND, kind)):
            if given is not None:
                manager.add_dimension(name=dimension, value=given)
        for one in values[start : start + VALUES_PER_LINE]:
            manager.add_metric(name=name, unit=unit, value=one)
        sys.stdout.write(json.dumps(manager.serialize_metric_set(), separators=(",", ":")) + "\n")


@_never_raises
def count(name: str, value: int, provider: str | None = None) -> None:
    """A count metric; with `provider`, flushed at once under that dimension (one EMF line)."""
    if value <= 0:
        return
    if provider is None:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
        return
    observe(name, value, MetricUnit.Count, provider)


@_never_raises
def count_reason(name: str, reason: str) -> None:
    """One count under a `reason` dimension (refusals by kind)."""
    with single_metric(name=name, unit=MetricUnit.Count, value=1) as metric:
        metric.add_dimension(name=REASON, value=reason)


snapstart.register()  # every handler imports this module: its hook runs after any restore
