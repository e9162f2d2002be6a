"""Provider name -> provider, built once per container from configuration and Secrets Manager.

The providers are the modules listed in PROVIDER_MODULES (each defines `PROVIDER`, a `Provider`
subclass); adding one is a module and its configuration, never an edit here.
"""

import functools
import importlib
from collections.abc import Mapping

from smsgw.platform.config import ConfigError, settings
from smsgw.platform.errors import ValidationError
from smsgw.providers.base import Provider, ProviderSettings
from smsgw.providers.model import provider_settings

BUILTIN = ("smsgw.providers.cmessages", "smsgw.providers.sms230")


@functools.cache
def classes() -> dict[str, type[Provider]]:
    """The registered provider classes by name, in PROVIDER_MODULES order."""
    found: dict[str, type[Provider]] = {}
    for module_name in settings().provider_modules or BUILTIN:
        cls = getattr(importlib.import_module(module_name), "PROVIDER", None)
        if not (isinstance(cls, type) and issubclass(cls, Provider)):
            raise ConfigError(f"{module_name} defines no PROVIDER (a Provider subclass)")
        found[cls.name] = cls
    return found


def names() -> tuple[str, ...]:
    return tuple(classes())


def order() -> tuple[str, ...]:
    """The providers to try, in order (PROVIDER_ORDER; by default every registered one)."""
    chosen = settings().provider_order or names()
    unknown = [name for name in chosen if name not in classes()]
    if unknown:
        raise ConfigError(f"unknown provider {unknown[0]!r}; expected one of {', '.join(names())}")
    return chosen


def provider(name: str) -> Provider:
    """The client for `name`. Credentials come through Powertools' cached secret reader, so a rotated
    secret is picked up within POWERTOOLS_PARAMETERS_MAX_AGE while clients and pools are reused."""
    cls = classes().get(name)
    if cls is None:
        raise ValidationError.single(
            "provider", f"unknown provider {name!r}; expected one of {', '.join(names())}"
        )
    config = _settings(name)
    return _build(name, tuple(sorted(_secret(config.secret_id).items())))


def receipt_reader(name: str, credentials: Mapping[str, str]) -> Provider:
    """A client that reads `name`'s pushed receipts, built from what they are checked against (the
    callback's own secret holds it), not from the provider's secret: it never sends."""
    return _reader(name, tuple(sorted(credentials.items())))


@functools.lru_cache(maxsize=8)
def _reader(name: str, credentials: tuple[tuple[str, str], ...]) -> Provider:
    return classes()[name](_settings(name), dict(credentials))


def batch_size(name: str) -> int:
    """Recipients per request for `name`, from its settings alone (no secret read: the planner cuts
    chunks with it)."""
    return max(1, min(_settings(name).batch_size, classes()[name].batch_cap))


def by_prefix(prefix: str) -> str | None:
    """The provider whose message ids start with "<prefix>-"."""
    return next((name for name, cls in classes().items() if cls.id_prefix == prefix), None)


def every() -> list[Provider]:
    return [provider(name) for name in names()]


@functools.cache
def _settings(name: str) -> ProviderSettings:
    cls = classes()[name]
    return provider_settings(
        settings(),
        cls.env_prefix,
        base_url=cls.default_base_url,
        batch_size=cls.batch_cap,
        requests_per_second=cls.default_requests_per_second,
        concurrency=cls.default_concurrency,
    )


@functools.lru_cache(maxsize=8)
def _build(name: str, secret: tuple[tuple[str, str], ...]) -> Provider:
    _account_limits()
    config = _settings(name)
    return classes()[name](config, dict(secret), read_secret=lambda: _secret(config.secret_id, fresh=True))


@functools.cache
def _account_limits() -> None:
    """Before the first client is built: its account's rate is held across containers."""
    from smsgw.providers.account_rate import install  # noqa: PLC0415 - cold start: only once a client is built

    install()


def _secret(secret_id: str, fresh: bool = False) -> dict[str, str]:
    """The secret's JSON object, through Powertools' cache (`fresh`: read from Secrets Manager, and
    the cache refreshed with it)."""
    from aws_lambda_powertools.utilities import parameters  # noqa: PLC0415 - only handlers that call out

    value = parameters.get_secret(secret_id, transform="json", force_fetch=fresh)
    if not isinstance(value, dict):
        raise RuntimeError(f"secret {secret_id} must hold a JSON object")
    return {str(k): str(v) for k, v in value.items()}
