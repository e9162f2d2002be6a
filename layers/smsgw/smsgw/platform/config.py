"""Configuration, read and validated once per container from the environment (set by template.yaml)."""

import functools
import os
from dataclasses import dataclass, fields

ENV_NAMES = {"connect_timeout": "PROVIDER_CONNECT_TIMEOUT", "read_timeout": "PROVIDER_READ_TIMEOUT"}
NOT_FROM_ENV = {"pending_shards"}  # part of the table's layout, not a setting


class ConfigError(RuntimeError):
    pass


@dataclass(frozen=True)
class Settings:
    messages_table: str
    callback_token_secret_id: str
    idempotency_table: str = ""
    limits_table: str = ""
    blocklist_table: str = ""  # opt-outs and API key -> tenant attachments: retained with the stack gone
    # The provider modules to load (each defines PROVIDER; empty: the built-in ones), and which
    # to try in which order (empty: all, in module order).
    provider_modules: tuple[str, ...] = ()
    provider_order: tuple[str, ...] = ()
    receipt_window_hours: float = 72
    # Delivery latency of pushed receipts: a container reads the submission time of a provider request
    # it has not seen for one receipt in this many, then keeps it for the request's other receipts.
    receipt_latency_read_every: int = 20
    retention_days: int = 90
    max_recipients: int = 10_000  # per API request: what fits in API Gateway's 29 s
    provider_concurrency: int = 8
    verification_pepper_secret_id: str = ""  # HMAC key of the codes the gateway keeps
    # HMAC key of every number the gateway keys an item by (never rotated: it finds the opt-outs).
    number_key_secret_id: str = ""
    # A stack upgraded from unkeyed SHA-256 number keys also reads (never writes) those: opt-outs
    # recorded before the upgrade, and the statuses of messages sent before it.
    legacy_number_keys: bool = False
    verification_ttl_seconds: int = 600
    verification_max_checks: int = 5
    # SMS-pumping guard on verification codes (see fraud.py).
    otp_prefix_per_hour: int = 20
    otp_ip_per_hour: int = 30
    otp_country_daily_budgets: tuple[tuple[int, int], ...] = ((86, 100_000),)
    otp_country_daily_default: int = 1_000
    otp_daily_budget: int = 200_000
    otp_conversion_min_sends: int = 50
    otp_conversion_min_rate: float = 0.2
    otp_conversion_block_seconds: int = 3600
    tenancy: str = "per-key"  # or "single": every API key shares messages and the blocklist
    send_reserve_seconds: float = 3.0  # of the Lambda's time, kept for recording and answering
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
    # Campaigns: the list bucket, the chunk queue (the sender's), the plan queue (the planner's, also
    # EventBridge Scheduler's target at send_at) and the marketing window in Beijing minutes [open, close).
    campaign_bucket: str = ""
    campaign_queue_url: str = ""
    campaign_plan_queue_url: str = ""
    campaign_plan_queue_arn: str = ""
    campaign_scheduler_role_arn: str = ""
    campaign_schedule_group: str = "default"
    campaign_max_recipients: int = 1_000_000
    campaign_max_upload_bytes: int = 32 * 1024 * 1024
    marketing_window: tuple[int, int] = (8 * 60, 21 * 60)
    # Webhooks: endpoints and attempts (table), their secrets' KMS key, the delivery queue; plain
    # http to this machine only where the local stack allows it.
    webhooks_table: str = ""
    webhook_key_id: str = ""
    webhook_queue_url: str = ""
    webhook_allow_loopback: bool = False

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

        def names(name: str) -> tuple[str, ...]:
            return tuple(p.strip() for p in (values.get(name) or "").split(",") if p.strip())

        order = names("PROVIDER_ORDER")  # checked by the registry
        try:
            countries = tuple(
                int(c) for c in (values.get("ALLOWED_COUNTRIES") or "86").replace("+", "").split(",")
            )
        except ValueError:
            raise ConfigError("ALLOWED_COUNTRIES must be calling codes, e.g. 86,852") from None
        try:
            budgets = tuple(
                (int(cc), int(n))
                for cc, _, n in (
                    p.partition(":")
                    for p in (values.get("OTP_COUNTRY_DAILY_BUDGETS") or "86:100000").split(",")
                )
            )
        except ValueError:
            raise ConfigError(
                "OTP_COUNTRY_DAILY_BUDGETS is calling code:count pairs, e.g. 86:100000,1:500"
            ) from None
        try:
            opening, closing = (
                _minutes(p) for p in (values.get("MARKETING_WINDOW") or "08:00-21:00").split("-")
            )
        except ValueError:
            raise ConfigError("MARKETING_WINDOW is HH:MM-HH:MM (Beijing time), e.g. 08:00-21:00") from None
        tenancy = values.get("TENANCY") or cls.tenancy
        if tenancy not in ("per-key", "single"):
            raise ConfigError("TENANCY must be per-key or single")
        legacy = (values.get("LEGACY_NUMBER_KEYS") or "false").lower()
        if legacy not in ("true", "false"):
            raise ConfigError("LEGACY_NUMBER_KEYS must be true or false")
        # Every number field is read from its upper-cased name (or ENV_NAMES), checked positive.
        numbers = {
            f.name: number(ENV_NAMES.get(f.name, f.name.upper()), f.type, f.default)
            for f in fields(cls)
            if f.type in (int, float) and f.name not in NOT_FROM_ENV
        }
        return cls(
            **numbers,
            tenancy=tenancy,
            otp_country_daily_budgets=budgets,
            verification_pepper_secret_id=values.get("VERIFICATION_PEPPER_SECRET_ID", ""),
            number_key_secret_id=values.get("NUMBER_KEY_SECRET_ID", ""),
            legacy_number_keys=legacy == "true",
            webhooks_table=values.get("WEBHOOKS_TABLE", ""),
            webhook_key_id=values.get("WEBHOOK_KEY_ID", ""),
            webhook_queue_url=values.get("WEBHOOK_QUEUE_URL", ""),
            webhook_allow_loopback=(values.get("WEBHOOK_ALLOW_LOOPBACK") or "false").lower() == "true",
            messages_table=required("MESSAGES_TABLE"),
            idempotency_table=required("IDEMPOTENCY_TABLE"),
            limits_table=required("LIMITS_TABLE"),
            blocklist_table=required("BLOCKLIST_TABLE"),
            callback_token_secret_id=required("CALLBACK_TOKEN_SECRET_ID"),
            provider_modules=names("PROVIDER_MODULES"),
            provider_order=order,
            allowed_countries=countries,
            marketing_window=(opening, closing),
            campaign_bucket=values.get("CAMPAIGN_BUCKET", ""),
            campaign_queue_url=values.get("CAMPAIGN_QUEUE_URL", ""),
            campaign_plan_queue_url=values.get("CAMPAIGN_PLAN_QUEUE_URL", ""),
            campaign_plan_queue_arn=values.get("CAMPAIGN_PLAN_QUEUE_ARN", ""),
            campaign_scheduler_role_arn=values.get("CAMPAIGN_SCHEDULER_ROLE_ARN", ""),
            campaign_schedule_group=values.get("CAMPAIGN_SCHEDULE_GROUP") or cls.campaign_schedule_group,
        )


def _minutes(text: str) -> int:
    hours, minutes = text.strip().split(":")
    value = int(hours) * 60 + int(minutes)
    if not 0 <= value <= 24 * 60:
        raise ValueError(text)
    return value


@functools.cache
def settings() -> Settings:
    return Settings.from_env()
