import hashlib

import phonenumbers
import pytest

from smsgw.campaigns.lists import all_plain, entries, parse_entry, read_entries
from smsgw.domain import numbers
from smsgw.domain.numbers import Recipient, mask, parse_number, parse_recipients, trusted_e164
from smsgw.platform.config import ConfigError, Settings
from smsgw.platform.errors import ValidationError
from smsgw.providers.cmessages import CMessages
from smsgw.providers.sms230 import Sms230
from tests.conftest import client_for

# How each provider writes a number on the wire (no request is made here).
CM = client_for(CMessages, "http://127.0.0.1:9", {"app_id": "a", "app_key": "b"})
SMS230 = client_for(Sms230, "http://127.0.0.1:9", {"apikey": "a", "apisecret": "b"})


@pytest.mark.parametrize("raw", ["17072440811", "+8617072440811", "+86 170 7244 0811", "008617072440811"])
def test_chinese_mobile_in_any_accepted_form(raw: str) -> None:
    recipient = parse_number(raw)
    assert recipient == Recipient(86, "17072440811")
    assert recipient.e164 == "+8617072440811"
    assert CM.address(recipient) == "17072440811"
    assert SMS230.address(recipient) == "8617072440811"


def test_new_mainland_prefix_from_the_cmessages_document_is_accepted() -> None:
    assert SMS230.address(parse_number("16014635797")) == "8616014635797"


def test_foreign_number_in_e164() -> None:
    recipient = parse_number("+14155552671")
    assert (recipient.e164, SMS230.address(recipient)) == ("+14155552671", "14155552671")


def test_italian_leading_zero_is_kept() -> None:
    assert SMS230.address(parse_number("+390612345678")) == "390612345678"


@pytest.mark.parametrize("raw", ["12345", "10012345678", "0101234567", "+86123", "abc", "", "  ", "+1415555"])
def test_invalid_numbers_are_refused(raw: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_number(raw)
    assert info.value.errors[0].field == "to"


@pytest.mark.parametrize("raw", [None, 17072440811, ["17072440811"]])
def test_non_strings_are_refused(raw: object) -> None:
    with pytest.raises(ValidationError):
        parse_number(raw)


def test_list_is_deduplicated_in_order_and_every_bad_entry_reported() -> None:
    assert parse_recipients(["17072440811", "+8613800138000", "+8617072440811"]) == [
        Recipient(86, "17072440811"),
        Recipient(86, "13800138000"),
    ]
    with pytest.raises(ValidationError) as info:
        parse_recipients(["17072440811", "123", "abc"])
    assert [e.field for e in info.value.errors] == ["to[1]", "to[2]"]


@pytest.mark.parametrize("raw", [[], {}, None, 5])
def test_empty_or_wrong_shape_is_refused(raw: object) -> None:
    with pytest.raises(ValidationError):
        parse_recipients(raw)


def test_max_count() -> None:
    with pytest.raises(ValidationError, match="at most 2"):
        parse_recipients(["17072440811", "13800138000", "13800138001"], max_count=2)


def test_mask_hides_the_middle() -> None:
    assert mask("13812345678") == "138****5678"
    assert mask("+8613812345678") == "+86138****5678"
    assert parse_number("13812345678").masked == "+86138****5678"
    assert "1234" not in mask("1234567")


def test_policy_refusals_name_the_original_position_after_duplicates() -> None:
    def policy(recipient: Recipient) -> str | None:
        return "not allowed" if recipient.country_code == 1 else None

    with pytest.raises(ValidationError) as info:
        parse_recipients(["17072440811", "+8617072440811", "+14155552671"], policy=policy)
    assert [(e.field, e.message) for e in info.value.errors] == [("to[2]", "not allowed")]


@pytest.mark.parametrize(
    "raw",
    ["+8617072440811 ext 5", "+8617072440811;ext=5", "tel:+8617072440811", "+86170724408x1", "17072440811#"],
)
def test_extensions_uris_and_letters_are_refused_not_dropped(raw: str) -> None:
    with pytest.raises(ValidationError, match="not a phone number"):
        parse_number(raw)


@pytest.mark.parametrize("raw", ["+86 170-7244-0811", "+86 (170) 7244 0811", "170.7244.0811"])
def test_usual_separators_are_fine(raw: str) -> None:
    assert parse_number(raw).e164 == "+8617072440811"


def test_plain_chinese_mobiles_skip_phonenumbers_and_get_what_it_would_give(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The fast path for `1[3-9]` + 9 digits (optionally `+86` first) must agree with the full one:
    checked on every second digit 3-9 and a spread of endings, then phonenumbers taken away."""
    samples = [
        f"{prefix}1{second}{rest}"
        for prefix in ("", "+86")
        for second in "3456789"
        for rest in ("000000000", "123456789", "987654321", "500138000", "999999999")
    ]
    expected = {}
    for raw in samples:
        parsed = phonenumbers.parse(raw, "CN")
        expected[raw] = Recipient(parsed.country_code, str(parsed.national_number))
    monkeypatch.setattr("phonenumbers.parse", None)  # the fast path must not need it
    assert {raw: parse_number(raw) for raw in samples} == expected
    with pytest.raises(TypeError):  # anything else still goes through phonenumbers
        parse_number("+86 170 7244 0811")


@pytest.mark.parametrize("e164", ["+8613800138000", "+8617072440811", "+16502530000", "+442079460958"])
def test_a_number_the_gateway_wrote_reads_back_as_it_was_parsed(e164: str) -> None:
    assert trusted_e164(e164) == parse_number(e164)


def test_a_campaign_list_read_line_by_line_gives_what_parsing_each_entry_gives() -> None:
    """The planner's one-match reading of plain Chinese mobile lines agrees with the general path
    (first CSV cell, quotes, header, any number) on every kind of line."""
    lines = [
        "phone,name",
        "13800138000",
        "+8613800138001,Li Lei",
        '"13800138002"',
        "  13800138003  ",
        "+86 138-0013-8004",
        "+1 650 253 0000",
        "12345",
        "",
        "not a number",
        "13800138005,",
    ]
    allowed = (86, 1)
    read = [(n, r, bool(why)) for n, _, r, why in read_entries(lines, allowed, header=True)]
    general = [(n, r, bool(why)) for n, entry in entries(lines) for r, why in [parse_entry(entry, allowed)]]
    assert read == general
    assert [r.e164 for _, r, _ in read if r] == [
        "+8613800138000",
        "+8613800138001",
        "+8613800138002",
        "+8613800138003",
        "+8613800138004",
        "+16502530000",
        "+8613800138005",
    ]
    only_us = [r for _, _, r, _ in read_entries(["13800138000", "+16502530000"], (1,), header=False)]
    assert only_us[0] is None and only_us[1] == Recipient(1, "6502530000")


@pytest.mark.parametrize(
    ("odd", "in_one_match"),
    [
        ("", False),  # skipped, not counted: read line by line
        ("phone", False),
        ("12345", False),
        ("+86 138-0013-8004", False),  # a number, but not a plain one
        ("13800138000 x", False),
        ("23800138009", False),
        ("138001380099", False),
        ("\u300013800138009\u3000", True),  # ideographic spaces around a plain number
        ('"13800138009",Li Lei', True),
        ("\t+8613800138009", True),
        ("13800138000", True),  # a repeat is still a plain line (the planner drops repeats)
    ],
)
def test_a_block_read_in_one_match_gives_what_reading_it_line_by_line_gives(
    odd: str, in_one_match: bool
) -> None:
    """The planner reads 10,000 lines in one match when every one is a plain Chinese mobile; a block
    with any other line is read line by line. Where both apply, they give the same numbers."""
    block = [f"1380013{n:04d}" for n in range(50)]
    block[25:25] = [odd]
    by_line = [(r.e164 if r else None) for _, _, r, _ in read_entries(block, (86,), header=False)]
    at_once = all_plain(block)
    assert (at_once is not None) == in_one_match
    if at_once is not None:
        assert at_once == by_line


def test_number_keys_are_keyed_and_the_unkeyed_ones_read_only_where_chosen(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    own = numbers.number_key("+8613800138000")
    assert len(own) == 16 and own == numbers.number_hash("+8613800138000")[:16]
    assert own != hashlib.sha256(b"+8613800138000").hexdigest()[:16]  # not the unkeyed hash
    monkeypatch.setattr(numbers, "_number_secret", lambda: b"another deployment's number key")
    assert numbers.number_key("+8613800138000") != own  # each deployment keys its own way
    env = dict.fromkeys(("MESSAGES_TABLE", "IDEMPOTENCY_TABLE", "LIMITS_TABLE", "BLOCKLIST_TABLE"), "x")
    env["CALLBACK_TOKEN_SECRET_ID"] = "t"
    for legacy, expected in (("true", 2), ("FALSE", 1), ("", 1)):
        chosen = Settings.from_env({**env, "LEGACY_NUMBER_KEYS": legacy})
        monkeypatch.setattr(numbers, "settings", lambda chosen=chosen: chosen)
        assert len(numbers.number_keys("+8613800138000")) == expected
    with pytest.raises(ConfigError, match="LEGACY_NUMBER_KEYS must be true or false"):
        Settings.from_env({**env, "LEGACY_NUMBER_KEYS": "yes"})
