"""Powertools Logger, Tracer and Metrics, one of each per container (configured by POWERTOOLS_* env)."""

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from . import snapstart

logger = Logger()
# Only what we call: patching everything also imports and patches sqlite3 and friends at cold start.
tracer = Tracer(patch_modules=("botocore", "httplib"))
metrics = Metrics()


def count(name: str, value: int, provider: str | None = None) -> None:
    """A count metric; with `provider`, flushed at once under that dimension (one EMF line)."""
    if value <= 0:
        return
    if provider is None:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
        return
    with single_metric(name=name, unit=MetricUnit.Count, value=value) as metric:
        metric.add_dimension(name="provider", value=provider)


def count_reason(name: str, reason: str) -> None:
    """One count under a `reason` dimension (refusals by kind)."""
    with single_metric(name=name, unit=MetricUnit.Count, value=1) as metric:
        metric.add_dimension(name="reason", value=reason)


snapstart.register()  # every handler imports this module: its hook runs after any restore
