import pytest

from smsgw.domain.content import count_segments, validate_content
from smsgw.platform.errors import ValidationError


@pytest.mark.parametrize(
    ("text", "encoding", "units", "count"),
    [
        ("a" * 160, "GSM-7", 160, 1),
        ("a" * 161, "GSM-7", 161, 2),
        ("a" * 306, "GSM-7", 306, 2),
        ("a" * 307, "GSM-7", 307, 3),
        ("€" * 80, "GSM-7", 160, 1),  # extension characters take two septets
        ("€" * 81, "GSM-7", 162, 2),
        ("验" * 70, "UCS-2", 70, 1),
        ("验" * 71, "UCS-2", 71, 2),
        ("验" * 134, "UCS-2", 134, 2),
        ("验" * 135, "UCS-2", 135, 3),
        ("a" * 69 + "😀", "UCS-2", 71, 2),  # an emoji is two UTF-16 units
        ("test 123456", "GSM-7", 11, 1),
    ],
)
def test_segments(text: str, encoding: str, units: int, count: int) -> None:
    segments = count_segments(text)
    assert (segments.encoding, segments.units, segments.count) == (encoding, units, count)


@pytest.mark.parametrize("raw", ["", "   ", None, 5, ["x"]])
def test_empty_or_non_text_content_is_refused(raw: object) -> None:
    with pytest.raises(ValidationError) as info:
        validate_content(raw)
    assert info.value.errors[0].field == "content"


def test_segment_limit() -> None:
    assert validate_content("验" * 134, max_segments=2) == "验" * 134
    with pytest.raises(ValidationError, match="3 SMS segments"):
        validate_content("验" * 135, max_segments=2)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("code \ud800", "lone surrogate"),
        ("\u200b", "visible text"),
        ("\u200b\u2060\ufeff \u3000", "visible text"),
        ("ring\u0007", "control characters"),
        ("nul\u0000byte", "control characters"),
        ("tab\there", "control characters"),
        ("bad \ufffd utf-8", "UTF-8"),
    ],
)
def test_text_that_cannot_go_out_is_refused_by_name(raw: str, reason: str) -> None:
    with pytest.raises(ValidationError, match=reason) as info:
        validate_content(raw)
    assert info.value.errors[0].field == "content"


@pytest.mark.parametrize("raw", ["第一行\n第二行", "windows\r\nnewline", "emoji 😀 ok", "a\u200bb"])
def test_newlines_emoji_and_inner_zero_width_characters_are_fine(raw: str) -> None:
    assert validate_content(raw) == raw
