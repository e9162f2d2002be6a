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
    idempotency_table: str = ""
    limits_table: str = ""
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
    idempotency_ttl_seconds: int = 24 * 3600
    # Content and number policy, checked before any provider call.
    max_segments: int = 10
    allowed_countries: tuple[int, ...] = (86,)  # country calling codes; mainland China only by default
    # Abuse limits: per recipient for verification codes, per API key overall (recipients).
    verify_cooldown_seconds: int = 60
    verify_max_per_10_minutes: int = 5
    verify_max_per_day: int = 10
    api_key_recipients_per_minute: int = 10_000
    api_key_recipients_per_day: int = 200_000

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
        try:
            countries = tuple(
                int(c) for c in (values.get("ALLOWED_COUNTRIES") or "86").replace("+", "").split(",")
            )
        except ValueError:
            raise ConfigError("ALLOWED_COUNTRIES must be calling codes, e.g. 86,852") from None
        return cls(
            messages_table=required("MESSAGES_TABLE"),
            idempotency_table=required("IDEMPOTENCY_TABLE"),
            limits_table=required("LIMITS_TABLE"),
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
            idempotency_ttl_seconds=number("IDEMPOTENCY_TTL_SECONDS", int, cls.idempotency_ttl_seconds),
            max_segments=number("MAX_SEGMENTS", int, cls.max_segments),
            allowed_countries=countries,
            verify_cooldown_seconds=number("VERIFY_COOLDOWN_SECONDS", int, cls.verify_cooldown_seconds),
            verify_max_per_10_minutes=number("VERIFY_MAX_PER_10_MINUTES", int, cls.verify_max_per_10_minutes),
            verify_max_per_day=number("VERIFY_MAX_PER_DAY", int, cls.verify_max_per_day),
            api_key_recipients_per_minute=number(
                "API_KEY_RECIPIENTS_PER_MINUTE", int, cls.api_key_recipients_per_minute
            ),
            api_key_recipients_per_day=number(
                "API_KEY_RECIPIENTS_PER_DAY", int, cls.api_key_recipients_per_day
            ),
        )


@functools.cache
def settings() -> Settings:
    return Settings.from_env()
