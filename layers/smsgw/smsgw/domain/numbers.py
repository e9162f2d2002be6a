"""Phone numbers: parse and validate with phonenumbers, then format for each provider."""

import functools
import hashlib
import hmac
import re
from collections.abc import Callable
from typing import NamedTuple

from smsgw.platform.config import ConfigError, settings
from smsgw.platform.errors import FieldError, ValidationError

CHINA = 86
# Mainland mobiles are 11 digits starting 13-19. Carriers open new prefixes (e.g. 160, used in the
# cmessages document's own example) before phonenumbers' metadata lists them, so this shape is
# accepted for China even where the metadata has no range yet.
_CN_MOBILE = re.compile(r"1[3-9]\d{9}")
# A Chinese mobile written plainly (national, or E.164): what phonenumbers would make of it is
# certain, so the common case skips it (a test checks both agree); 10,000 numbers parse in ~30 ms.
_CN_MOBILE_PLAIN = re.compile(r"(?:\+86)?(1[3-9]\d{9})")
# What a phone number may be written with: an optional +, digits and the usual separators.
_PLAIN_NUMBER = re.compile(r"\+?[0-9][0-9 ()\-.]{3,22}[0-9]")


class Recipient(NamedTuple):
    """A phone number: its calling code and national number. A tuple, so that the 10,000 of a large
    send are built, hashed and compared at C speed."""

    country_code: int
    national: str

    @property
    def e164(self) -> str:
        return f"+{self.country_code}{self.national}"

    @property
    def masked(self) -> str:
        return mask(self.e164)


def number_hash(e164: str) -> str:
    """A number as a key, never in clear (limits, blocklist, codes, message ids): an HMAC under the
    gateway's number key. Unkeyed, the mainland mobile space (~7e9) is tried whole in minutes."""
    return hmac.digest(_number_secret(), e164.encode(), "sha256").hex()[:32]


def legacy_number_hash(e164: str) -> str:
    """The unkeyed SHA-256 key of releases before the number key: read, never written."""
    return hashlib.sha256(e164.encode()).hexdigest()[:32]


def number_hashes(e164: str) -> tuple[str, ...]:
    """Every key a number may be stored under: its own, then (a stack upgraded from unkeyed keys,
    `LEGACY_NUMBER_KEYS`) the unkeyed one."""
    keyed = number_hash(e164)
    return (keyed, legacy_number_hash(e164)) if settings().legacy_number_keys else (keyed,)


def recipient_hash(recipient: "Recipient") -> str:
    """A recipient as the limits table keys it (limits, blocklist): a hash, never the number."""
    return number_hash(recipient.e164)


def number_key(e164: str) -> str:
    """The short key of a number inside message ids and status items' keys."""
    return number_hash(e164)[:16]


def number_keys(e164: str) -> tuple[str, ...]:
    """`number_key`, then (LEGACY_NUMBER_KEYS) the unkeyed one a message sent before the upgrade has."""
    return tuple(h[:16] for h in number_hashes(e164))


@functools.cache
def _number_secret() -> bytes:
    """The number key, read once per container (Secrets Manager, `NUMBER_KEY_SECRET_ID`)."""
    secret_id = settings().number_key_secret_id
    if not secret_id:
        raise ConfigError("environment variable NUMBER_KEY_SECRET_ID is required to key numbers")
    from aws_lambda_powertools.utilities import parameters  # noqa: PLC0415 - only functions that key numbers

    key = str(parameters.get_secret(secret_id, transform="json")["key"])
    if len(key) < 32:
        raise ConfigError(f"the number key in {secret_id} must be at least 32 characters")
    return key.encode()


def mask(number: str) -> str:
    """`+8613812345678` -> `+86138****5678`: enough to tell numbers apart in logs, never the whole."""
    if len(number) < 9:
        return "****" + number[-2:]
    return number[:-8] + "****" + number[-4:]


def parse_number(raw: object, field_name: str = "to") -> Recipient:
    """A Recipient from E.164 (`+8617072440811`) or a Chinese national mobile (`17072440811`)."""
    if isinstance(raw, str) and (plain := _CN_MOBILE_PLAIN.fullmatch(raw)):
        return Recipient(CHINA, plain.group(1))
    # Imported on first use: the handlers that never parse a number skip its cost at cold start.
    import phonenumbers  # noqa: PLC0415

    if not isinstance(raw, str) or not raw.strip():
        raise ValidationError.single(field_name, "must be a phone number string")
    if not _PLAIN_NUMBER.fullmatch(raw.strip()):  # no extensions, URIs (tel:) or letters
        raise ValidationError.single(
            field_name, "is not a phone number: digits, an optional +, spaces or dashes"
        )
    try:
        parsed = phonenumbers.parse(raw, "CN")
    except phonenumbers.NumberParseException:
        raise ValidationError.single(field_name, "is not a phone number") from None
    national = str(parsed.national_number)
    if parsed.country_code == CHINA:
        if not _CN_MOBILE.fullmatch(national):
            raise ValidationError.single(field_name, "is not a valid Chinese mobile number")
    elif not phonenumbers.is_valid_number(parsed):
        raise ValidationError.single(field_name, "is not a valid phone number")
    if parsed.italian_leading_zero:
        national = "0" * (parsed.number_of_leading_zeros or 1) + national
    return Recipient(parsed.country_code or CHINA, national)


def trusted_e164(e164: str) -> Recipient:
    """A number this gateway itself wrote in E.164 after parsing it (a campaign chunk): a Chinese
    mobile is split, not parsed again; any other is parsed."""
    if e164.startswith("+86") and len(e164) == 14:
        return Recipient(CHINA, e164[3:])
    return parse_number(e164)


def parse_recipients(
    raw: object,
    field_name: str = "to",
    max_count: int | None = None,
    policy: Callable[[Recipient], str | None] = lambda _: None,
) -> list[Recipient]:
    """Validate one number or a list of numbers; duplicates are sent once. All errors are reported,
    each under its position in the request; `policy` may refuse a valid number with a reason."""
    values = [raw] if isinstance(raw, str) else raw
    if not isinstance(values, list) or not values:
        raise ValidationError.single(field_name, "must be a phone number or a non-empty list of them")
    if max_count is not None and len(values) > max_count:
        raise ValidationError.single(field_name, f"at most {max_count} numbers per request")
    recipients: dict[Recipient, None] = {}
    errors: list[FieldError] = []

    def position(index: int) -> str:  # named only for an error: 10,000 f-strings saved otherwise
        return field_name if isinstance(raw, str) else f"{field_name}[{index}]"

    for index, value in enumerate(values):
        try:
            recipient = parse_number(value, field_name)
        except ValidationError as error:
            errors.extend(FieldError(position(index), e.message) for e in error.errors)
            continue
        if refusal := policy(recipient):
            errors.append(FieldError(position(index), refusal))
        recipients[recipient] = None
    if errors:
        raise ValidationError(errors)
    return list(recipients)
