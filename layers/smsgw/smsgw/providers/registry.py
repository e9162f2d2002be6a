"""Provider clients, built once per container from configuration and Secrets Manager."""

import functools
from typing import Any

from aws_lambda_powertools.utilities import parameters

from ..config import Settings, settings
from ..errors import ValidationError
from ..transport import Timeouts
from . import cmessages, sms230
from .base import Provider


def provider(name: str) -> Provider:
    """The client for `name`. Credentials come through Powertools' cached secret reader, so a rotated
    secret is picked up within POWERTOOLS_PARAMETERS_MAX_AGE while clients and pools are reused."""
    config = settings()
    if name == cmessages.NAME:
        secret = _secret(config.cmessages_secret_id)
        return _cmessages(config, cmessages.Credentials(str(secret["app_id"]), str(secret["app_key"])))
    if name == sms230.NAME:
        secret = _secret(config.sms230_secret_id)
        return _sms230(config, sms230.Credentials(str(secret["apikey"]), str(secret["apisecret"])))
    raise ValidationError.single("provider", f"unknown provider {name!r}; expected cmessages or 230sms")


def cmessages_client() -> cmessages.CMessagesClient:
    client = provider(cmessages.NAME)
    assert isinstance(client, cmessages.CMessagesClient)  # noqa: S101 - narrows the type
    return client


def sms230_credentials() -> sms230.Credentials:
    secret = _secret(settings().sms230_secret_id)
    return sms230.Credentials(str(secret["apikey"]), str(secret["apisecret"]))


def _secret(secret_id: str) -> dict[str, Any]:
    value = parameters.get_secret(secret_id, transform="json")
    if not isinstance(value, dict):
        raise RuntimeError(f"secret {secret_id} must hold a JSON object")
    return value


def _timeouts(config: Settings) -> Timeouts:
    return Timeouts(connect=config.connect_timeout, read=config.read_timeout)


@functools.lru_cache(maxsize=4)
def _cmessages(config: Settings, credentials: cmessages.Credentials) -> cmessages.CMessagesClient:
    return cmessages.CMessagesClient(
        config.cmessages_base_url,
        credentials,
        chunk_size=config.cmessages_chunk_size,
        query_batch=config.cmessages_query_batch,
        concurrency=config.provider_concurrency,
        timeouts=_timeouts(config),
    )


@functools.lru_cache(maxsize=4)
def _sms230(config: Settings, credentials: sms230.Credentials) -> sms230.Sms230Client:
    return sms230.Sms230Client(
        config.sms230_base_url,
        credentials,
        concurrency=config.provider_concurrency,
        requests_per_second=config.sms230_requests_per_second,
        timeouts=_timeouts(config),
    )
