"""The local stack's configuration, read from environment variables."""

import inspect
import ipaddress
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

from sandboxes import CMessagesSandbox, SandboxServer, Sms230Sandbox

from .aws_faults import FaultPlan
from .gateway import IpNetwork

# The providers the stack stands in for: each one's sandbox, and the variable naming the provider's
# real base URL to use instead.
SANDBOXES: dict[str, tuple[type[SandboxServer], str]] = {
    "cmessages": (CMessagesSandbox, "CMESSAGES_BASE_URL"),
    "sms230": (Sms230Sandbox, "SMS230_BASE_URL"),
}

# Where a running stack leaves each function's environment (`make invoke` reads it).
DEFAULT_ENV_FILE = Path(__file__).resolve().parents[1] / ".local-stack" / "env.json"

# Function environment a user may override from the shell (the template supplies the rest).
TUNABLE = (
    "PROVIDER_ORDER",
    "RECEIPT_WINDOW_HOURS",
    "RETENTION_DAYS",
    "POWERTOOLS_LOG_LEVEL",
    "POWERTOOLS_METRICS_DISABLED",
    "API_KEY_RECIPIENTS_PER_MINUTE",
    "API_KEY_RECIPIENTS_PER_DAY",
    "OTP_IP_PER_HOUR",
)


def _sandbox_default(cls: type, name: str) -> str:
    return str(inspect.signature(cls).parameters[name].default)


def _seconds(env: Mapping[str, str], name: str, default: str) -> tuple[float, ...]:
    text = env.get(name) or default
    try:
        values = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise ValueError(f"{name} must be comma-separated seconds, not {text!r}") from None
    if not values or any(v < 0 for v in values):
        raise ValueError(f"{name} must list seconds >= 0, not {text!r}")
    return values


def _positive_seconds(env: Mapping[str, str], name: str) -> float | None:
    """One number of seconds > 0, or None when unset."""
    if not env.get(name):
        return None
    values = _seconds(env, name, "")
    if len(values) != 1 or values[0] <= 0:
        raise ValueError(f"{name} must be one number of seconds > 0, not {env[name]!r}")
    return values[0]


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    text = env.get(name)
    if not text:
        return default
    if not text.isdigit() or int(text) > 65535:
        raise ValueError(f"{name} must be a port number (0 = any free port), not {text!r}")
    return int(text)


def _count(env: Mapping[str, str], name: str, default: int) -> int:
    text = env.get(name)
    if not text:
        return default
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"{name} must be a whole number >= 1, not {text!r}")
    return int(text)


@dataclass(frozen=True)
class Settings:
    """The local stack's configuration, from environment variables (unset or empty: the default).

    Ports (0 = any free one): `PORT` (the API, 3000), `MOTO_PORT`, `CMESSAGES_SANDBOX_PORT`,
    `SMS230_SANDBOX_PORT`. `API_KEY` and `CALLBACK_TOKEN`: random unless set.
    `POLL_INTERVAL_SECONDS` (60): the poller's schedule. `CMESSAGES_BASE_URL`, `SMS230_BASE_URL`:
    a real provider instead of its sandbox. Credentials (default: the sandboxes'):
    `CMESSAGES_APP_ID`, `CMESSAGES_APP_KEY`, `SMS230_APIKEY`, `SMS230_APISECRET`. The sandboxes'
    pace: `SMS230_RECEIPT_INTERVALS` (300,900,1800 seconds between receipt retries) and
    `CMESSAGES_STATUS_DELAYS` (2,5: a message is waiting, then sending, until so many seconds after
    its send). `CALLBACK_ALLOWED_CIDRS` (0.0.0.0/0): who may call the callback. The functions'
    variables in TUNABLE, when set, override the template's values.
    `LOCAL_FUNCTION_TIMEOUT_SECONDS` (unset: each function's Timeout in the template, 29 for the API's
    functions, 300 for the poller): every function's timeout instead, e.g. 1 for a test. An
    invocation's context counts down from it, and one running past it is cut off: the API answers
    504 `{"message": "Endpoint request timed out"}`, the poller's tick is logged as failed.
    `LOCAL_FUNCTION_CONCURRENCY` (4): execution environments a function may have at once (Lambda
    scales a function out per concurrent invocation); each extra one starts cold when first needed.
    `AWS_FAULTS` (unset): AWS unwell for the functions, e.g. `dynamodb=0.1,s3=0.1,sqs=0.1` (the share
    of each service's calls answered with a throttle, a 5xx, unprocessed items or a cancelled
    transaction) and `secretsmanager=cold` (each container's first read unreachable): aws_faults.py.
    `LOCAL_STACK_ENV_FILE` (.local-stack/env.json): where the running stack leaves each function's
    environment for `make invoke` (and `sam local invoke --env-vars`); removed when it stops.
    """

    port: int = 3000
    moto_port: int = 0
    cmessages_port: int = 0
    sms230_port: int = 0
    api_key: str = ""
    callback_token: str = ""
    poll_interval: float = 60.0
    base_urls: Mapping[str, str] = field(default_factory=dict)  # provider -> a real provider's URL
    cmessages_app_id: str = ""
    cmessages_app_key: str = ""
    sms230_apikey: str = ""
    sms230_apisecret: str = ""
    receipt_intervals: tuple[float, ...] = (300.0, 900.0, 1800.0)
    status_delays: tuple[float, float] = (2.0, 5.0)
    callback_cidrs: tuple[IpNetwork, ...] = (ipaddress.IPv4Network("0.0.0.0/0"),)
    overrides: tuple[tuple[str, str], ...] = ()
    function_timeout: float | None = None  # seconds, instead of the template's Timeout
    env_file: Path = DEFAULT_ENV_FILE
    aws_faults: str = ""  # aws_faults.FaultPlan's text
    concurrency: int = 4  # execution environments per function at most

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Self:
        env = os.environ if env is None else env
        poll_interval = _positive_seconds(env, "POLL_INTERVAL_SECONDS") or 60.0
        delays = _seconds(env, "CMESSAGES_STATUS_DELAYS", "2,5")
        if len(delays) != 2 or delays[0] > delays[1]:
            raise ValueError("CMESSAGES_STATUS_DELAYS must be two seconds, waiting,sending (e.g. 2,5)")
        try:
            cidrs = tuple(
                ipaddress.ip_network(part.strip(), strict=False)
                for part in (env.get("CALLBACK_ALLOWED_CIDRS") or "0.0.0.0/0").split(",")
                if part.strip()
            )
        except ValueError as error:
            raise ValueError(f"CALLBACK_ALLOWED_CIDRS: {error}") from None
        return cls(
            port=_port(env, "PORT", 3000),
            moto_port=_port(env, "MOTO_PORT", 0),
            cmessages_port=_port(env, "CMESSAGES_SANDBOX_PORT", 0),
            sms230_port=_port(env, "SMS230_SANDBOX_PORT", 0),
            api_key=env.get("API_KEY") or secrets.token_urlsafe(24),
            callback_token=env.get("CALLBACK_TOKEN") or secrets.token_urlsafe(30),
            poll_interval=poll_interval,
            base_urls={name: env[var] for name, (_, var) in SANDBOXES.items() if env.get(var)},
            cmessages_app_id=env.get("CMESSAGES_APP_ID") or _sandbox_default(CMessagesSandbox, "app_id"),
            cmessages_app_key=env.get("CMESSAGES_APP_KEY") or _sandbox_default(CMessagesSandbox, "app_key"),
            sms230_apikey=env.get("SMS230_APIKEY") or _sandbox_default(Sms230Sandbox, "apikey"),
            sms230_apisecret=env.get("SMS230_APISECRET") or _sandbox_default(Sms230Sandbox, "apisecret"),
            receipt_intervals=_seconds(env, "SMS230_RECEIPT_INTERVALS", "300,900,1800"),
            status_delays=(delays[0], delays[1]),
            callback_cidrs=cidrs,
            overrides=tuple((name, env[name]) for name in TUNABLE if env.get(name)),
            function_timeout=_positive_seconds(env, "LOCAL_FUNCTION_TIMEOUT_SECONDS"),
            env_file=Path(env.get("LOCAL_STACK_ENV_FILE") or DEFAULT_ENV_FILE),
            aws_faults=FaultPlan.parse(env.get("AWS_FAULTS") or "").describe(),
            concurrency=_count(env, "LOCAL_FUNCTION_CONCURRENCY", 4),
        )
