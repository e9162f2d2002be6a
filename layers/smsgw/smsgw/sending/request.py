"""Parsing and policy for send and verify-code requests: every check before any provider call."""

from dataclasses import dataclass
from typing import Any

from smsgw.domain.content import validate_content
from smsgw.domain.numbers import Recipient, parse_recipients
from smsgw.platform.config import settings
from smsgw.platform.errors import FieldError, ValidationError
from smsgw.providers import registry
from smsgw.providers.base import Option, Provider
from smsgw.webhooks.endpoints import url_problem

BASE_FIELDS = ("to", "content", "provider", "status_callback")


def options() -> dict[str, list[Option]]:
    """Every registered provider's optional send fields, by field name."""
    found: dict[str, list[Option]] = {}
    for cls in registry.classes().values():
        for option in cls.options:
            found.setdefault(option.field, []).append(option)
    return found


def chosen_options(
    body: dict[str, Any], named: "type[Provider] | None", errors: list[FieldError]
) -> dict[str, str]:
    """The optional send fields given, each checked by its provider's rule; with a provider named,
    only that provider's options are allowed."""
    chosen: dict[str, str] = {}
    for field, candidates in options().items():
        if body.get(field) is None:
            continue
        theirs = [o for o in candidates if named is None or o in named.options]
        if not theirs:
            errors.append(FieldError(field, f"is not an option of {named.name if named else 'any provider'}"))
        elif problem := theirs[0].problem(body[field]):
            errors.append(FieldError(field, problem))
        else:
            chosen[field] = body[field]
    return chosen


@dataclass(frozen=True, slots=True)
class SendRequest:
    recipients: list[Recipient]
    content: str
    provider: str | None  # named by the caller: that provider only, no failover
    options: dict[str, str]  # optional send fields; each provider takes those it declares
    status_callback: str | None = None  # this request's message events also go here (webhooks)

    @property
    def providers(self) -> tuple[str, ...]:
        return (self.provider,) if self.provider else registry.order()

    @classmethod
    def parse(cls, body: Any, *, single: bool) -> "SendRequest":
        """Reports every problem at once, field by field."""
        if not isinstance(body, dict):
            raise ValidationError.single("body", "must be a JSON object")
        config = settings()
        known = options()
        errors = [
            FieldError(name[:64], "unknown field")  # a field name may be huge
            for name in body
            if name not in BASE_FIELDS and name not in known
        ]
        name = body.get("provider")
        named = None
        if name is not None:
            if name in registry.names():
                named = registry.classes()[name]
            else:
                errors.append(FieldError("provider", f"must be one of {', '.join(registry.names())}"))
        chosen = chosen_options(body, named, errors)

        def policy(recipient: Recipient) -> str | None:
            if recipient.country_code not in config.allowed_countries:
                return f"country +{recipient.country_code} is not allowed"
            return named.refuses(recipient) if named else None

        recipients: list[Recipient] = []
        try:
            to = body.get("to")
            if single and not isinstance(to, str):
                raise ValidationError.single("to", "must be one phone number")
            recipients = parse_recipients(to, max_count=config.max_recipients, policy=policy)
        except ValidationError as error:
            errors.extend(error.errors)
        content = ""
        try:
            content = validate_content(body.get("content"), max_segments=config.max_segments)
        except ValidationError as error:
            errors.extend(error.errors)
        callback = body.get("status_callback")
        if callback is not None and (problem := url_problem(callback, config.webhook_allow_loopback)):
            errors.append(FieldError("status_callback", problem))
        if errors:
            raise ValidationError(errors)
        return cls(recipients, content, name, chosen, callback)
