"""Message content: validation and SMS segment counting (GSM-7 160/153, UCS-2 70/67)."""

import unicodedata
from dataclasses import dataclass

from smsgw.platform.errors import ValidationError

# A verification code's length, the caller's own too: 10 codes a day x 5 checks guess a 4-digit code
# 0.5% of the time, a 6-digit one 0.005%.
SHORTEST_CODE, LONGEST_CODE = 6, 10

# GSM 03.38 default alphabet, and the extension table whose characters take two septets.
_GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")


@dataclass(frozen=True, slots=True)
class Segments:
    encoding: str  # "GSM-7" or "UCS-2"
    units: int  # septets for GSM-7, UTF-16 code units for UCS-2
    count: int


def count_segments(text: str) -> Segments:
    if all(ch in _GSM7_BASIC or ch in _GSM7_EXTENDED for ch in text):
        units = sum(2 if ch in _GSM7_EXTENDED else 1 for ch in text)
        return Segments("GSM-7", units, 1 if units <= 160 else -(-units // 153))
    units = len(text.encode("utf-16-le")) // 2
    return Segments("UCS-2", units, 1 if units <= 70 else -(-units // 67))


def text_problem(text: str, *, newlines: bool = True) -> str | None:
    """Why `text` cannot go out as an SMS (or be stored as text), or None: lone surrogates (not
    Unicode), U+FFFD (what invalid UTF-8 became on the way in), control characters other than a
    newline, or nothing visible at all."""
    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in text):
        return "is not valid Unicode text (lone surrogate)"
    if "\ufffd" in text:
        return "is not valid UTF-8 text (replacement character)"
    allowed = "\n" if newlines else ""
    if any(unicodedata.category(ch) == "Cc" and ch not in allowed for ch in text.replace("\r\n", "\n")):
        return "must not contain control characters" + (" other than a newline" if newlines else "")
    if text and not any(not ch.isspace() and unicodedata.category(ch) not in _INVISIBLE for ch in text):
        return "must contain visible text"
    return None


# Format characters (zero-width space and joiners, BOM, word joiner) and separators show nothing.
_INVISIBLE = frozenset({"Cf", "Zs", "Zl", "Zp"})


def validate_content(raw: object, field_name: str = "content", max_segments: int | None = None) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise ValidationError.single(field_name, "must be non-empty text")
    if problem := text_problem(raw):
        raise ValidationError.single(field_name, problem)
    if max_segments is not None and (segments := count_segments(raw)).count > max_segments:
        raise ValidationError.single(
            field_name, f"is {segments.count} SMS segments ({segments.encoding}); at most {max_segments}"
        )
    return raw
