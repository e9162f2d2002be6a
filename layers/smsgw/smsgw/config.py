"""Configuration, read and validated once per container from the environment (set by template.yaml)."""

import functools
import os
from dataclasses import dataclass

PROVIDERS = ("cmessages", "230sms")


class ConfigError(RuntimeError):
    pass


@dataclass(frozen=True)
class Settings:
    messages_table: str
    cmessages_secret_id: str
    sms230_secret_id: str
    callback_token_secret_id: str
    cmessages_base_url: str = "https://api.cmessages.com"
    sms230_base_url: str = "https://api.230sms.com"
    default_provider: str = "230sms"
    provider_order: tuple[str, ...] = ("230sms", "cmessages")
    receipt_window_hours: float = 72
    retention_days: int = 90
    max_recipients: int = 10_000  # per API request: what fits in API Gateway's 29 s
    cmessages_chunk_size: int = 100
    cmessages_query_batch: int = 100
    sms230_requests_per_second: float = 95
    provider_concurrency: int = 8
    connect_timeout: float = 3.05
    read_timeout: float = 10.0
    pending_shards: int = 8  # spreads the sparse index's writes over partitions

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "Settings":
        values: dict[str, str] = dict(os.environ) if env is None else env

        def required(name: str) -> str:
            if not values.get(name):
                raise ConfigError(f"environment variable {name} is required")
            return values[name]

        def number[T: (int, float)](name: str, kind: type[T], default: T) -> T:
            try:
                value = kind(values.get(name) or default)
            except ValueError:
                raise ConfigError(f"{name} must be a number, not {values[name]!r}") from None
            if value <= 0:
                raise ConfigError(f"{name} must be positive")
            return value

        default_provider = values.get("DEFAULT_PROVIDER") or cls.default_provider
        order = tuple(
            p.strip() for p in (values.get("PROVIDER_ORDER") or default_provider).split(",") if p.strip()
        )
        for name in (default_provider, *order):
            if name not in PROVIDERS:
                raise ConfigError(f"unknown provider {name!r}; expected one of {', '.join(PROVIDERS)}")
        return cls(
            messages_table=required("MESSAGES_TABLE"),
            cmessages_secret_id=required("CMESSAGES_SECRET_ID"),
            sms230_secret_id=required("SMS230_SECRET_ID"),
            callback_token_secret_id=required("CALLBACK_TOKEN_SECRET_ID"),
            cmessages_base_url=values.get("CMESSAGES_BASE_URL") or cls.cmessages_base_url,
            sms230_base_url=values.get("SMS230_BASE_URL") or cls.sms230_base_url,
            default_provider=default_provider,
            provider_order=order,
            receipt_window_hours=number("RECEIPT_WINDOW_HOURS", float, cls.receipt_window_hours),
            retention_days=number("RETENTION_DAYS", int, cls.retention_days),
            max_recipients=number("MAX_RECIPIENTS", int, cls.max_recipients),
            cmessages_chunk_size=number("CMESSAGES_CHUNK_SIZE", int, cls.cmessages_chunk_size),
            cmessages_query_batch=number("CMESSAGES_QUERY_BATCH", int, cls.cmessages_query_batch),
            sms230_requests_per_second=number(
                "SMS230_REQUESTS_PER_SECOND", float, cls.sms230_requests_per_second
            ),
            provider_concurrency=number("PROVIDER_CONCURRENCY", int, cls.provider_concurrency),
            connect_timeout=number("PROVIDER_CONNECT_TIMEOUT", float, cls.connect_timeout),
            read_timeout=number("PROVIDER_READ_TIMEOUT", float, cls.read_timeout),
        )


@functools.cache
def settings() -> Settings:
    return Settings.from_env()
