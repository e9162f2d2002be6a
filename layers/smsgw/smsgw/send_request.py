"""Parsing and policy for send and verify-code requests: every check before any provider call."""

import re
from dataclasses import dataclass
from typing import Any

from .config import PROVIDERS, settings
from .content import validate_content
from .errors import FieldError, ValidationError
from .numbers import CHINA, Recipient, parse_recipients
from .providers import SendOptions

FIELDS = {"to", "content", "provider", "sender_id", "template_id", "sign_name"}
EXTRAS = ("sender_id", "template_id", "sign_name")  # 230sms' senderid, templateid, signname
_SENDER_ID = re.compile(r"[A-Za-z0-9]{2,10}")  # the document: 2-10 digits or letters


@dataclass(frozen=True, slots=True)
class SendRequest:
    recipients: list[Recipient]
    content: str
    provider: str | None  # named by the caller: that provider only, no failover
    options: SendOptions

    @property
    def providers(self) -> tuple[str, ...]:
        return (self.provider,) if self.provider else settings().provider_order

    @classmethod
    def parse(cls, body: Any, *, single: bool) -> "SendRequest":
        """Reports every problem at once, field by field."""
        if not isinstance(body, dict):
            raise ValidationError.single("body", "must be a JSON object")
        config = settings()
        errors = [FieldError(name, "unknown field") for name in body if name not in FIELDS]
        name = body.get("provider")
        if name is not None and name not in PROVIDERS:
            errors.append(FieldError("provider", f"must be one of {', '.join(PROVIDERS)}"))
        errors += _check_extras(body, name)

        def policy(recipient: Recipient) -> str | None:
            if recipient.country_code not in config.allowed_countries:
                return f"country +{recipient.country_code} is not allowed"
            if name == "cmessages" and recipient.country_code != CHINA:
                return "cmessages sends to mainland China numbers only"
            return None

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
        if errors:
            raise ValidationError(errors)
        options = SendOptions(*(body.get(key) for key in EXTRAS))
        return cls(recipients, content, name, options)


def _check_extras(body: dict[str, Any], provider: object) -> list[FieldError]:
    errors = []
    for key in EXTRAS:
        value = body.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            errors.append(FieldError(key, "must be a non-empty string"))
        elif key == "sender_id" and value is not None and not _SENDER_ID.fullmatch(value):
            errors.append(FieldError(key, "must be 2-10 letters or digits (230sms senderid)"))
        elif value is not None and provider == "cmessages":
            errors.append(FieldError(key, "is a 230sms option; cmessages has none"))
    return errors
