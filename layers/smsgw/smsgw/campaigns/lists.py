"""Reading a campaign's list: one entry per line (a CSV's first cell), a header skipped, each entry
parsed as a phone number; nearly every line of a real list is read in one match per block."""

import re
from collections.abc import Iterator

from smsgw.domain.numbers import CHINA, Recipient, parse_number
from smsgw.platform.config import settings
from smsgw.platform.errors import ValidationError

READ_LINES = 10_000  # a list is read this many lines at a time

# A line holding just a Chinese mobile (national or +86, perhaps quoted, perhaps first of a CSV row):
# nearly every line of a real list. It is read in one match; any other line by `entries`/`parse_entry`.
# Multiline, so that one match also finds it on every line of a block joined by newlines ([^\S\n]:
# \s within a line); a line of `splitlines` holds no newline, so `fullmatch` reads one line alone.
_PLAIN_CN_LINE = re.compile(r'^[^\S\n]*"?(?:\+86)?(1[3-9]\d{9})"?[^\S\n]*(?:,[^\n]*)?$', re.MULTILINE)


def entries(lines: list[str], header: bool = True) -> Iterator[tuple[int, str]]:
    """(line number, first cell) of each non-empty line; in a file, a first line without digits is
    its header."""
    for line_no, line in enumerate(lines, start=1):
        cell = line.split(",", 1)[0].strip().strip('"')
        if not cell or (header and line_no == 1 and not any(c.isdigit() for c in cell)):
            continue
        yield line_no, cell


def all_plain(lines: list[str]) -> list[str] | None:
    """The E.164 numbers of a block of lines when every one of them is a plain Chinese mobile (one
    match over the whole block, in C), else None: the block is read line by line."""
    found = _PLAIN_CN_LINE.findall("\n".join(lines))
    return ["+86" + national for national in found] if len(found) == len(lines) else None


def read_entries(
    lines: list[str], allowed: tuple[int, ...], header: bool, first: int = 1
) -> Iterator[tuple[int, str, Recipient | None, str]]:
    """(line number, entry, recipient or None, why not) of each entry of a list's lines (`first`:
    the number of the first of them)."""
    plain = _PLAIN_CN_LINE.fullmatch if CHINA in allowed else None
    for line_no, line in enumerate(lines, start=first):
        if plain and (match := plain(line)):
            yield line_no, match.group(1), Recipient(CHINA, match.group(1)), ""
            continue
        for _, entry in entries([line], header=header and line_no == 1):
            yield (line_no, entry, *parse_entry(entry, allowed))


def parse_entry(entry: str, allowed: tuple[int, ...]) -> tuple[Recipient | None, str]:
    try:
        recipient = parse_number(entry)
    except ValidationError as error:
        return None, error.errors[0].message
    if recipient.country_code not in allowed:
        return None, f"country +{recipient.country_code} is not allowed"
    return recipient, ""


def number_or_none(entry: str) -> Recipient | None:
    return parse_entry(entry, settings().allowed_countries)[0]
