"""Behaviour switches: `Setting` attributes, checked on every assignment (constructor keyword,
plain assignment, or `POST /_sandbox/settings`). Their defaults are the strict provider."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Self, overload

ADMIN_PREFIX = "/_sandbox/"
_BASE_PATH_RE = re.compile(r"(/[A-Za-z0-9._~-]+)*")


class Setting[T]:
    """A behaviour switch: an attribute whose every assignment goes through `parse` (which raises
    ValueError/TypeError on a bad value). `POST /_sandbox/settings` sets the same attributes."""

    def __init__(self, parse: Callable[[Any], T]) -> None:
        self.parse = parse
        self.attr = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.attr = f"_setting_{name}"

    @overload
    def __get__(self, obj: None, owner: type) -> Self: ...
    @overload
    def __get__(self, obj: object, owner: type) -> T: ...
    def __get__(self, obj: object | None, owner: type) -> Self | T:
        if obj is None:
            return self
        value: T = getattr(obj, self.attr)
        return value

    def __set__(self, obj: object, value: Any) -> None:
        setattr(obj, self.attr, self.parse(value))


def number_set(value: Any) -> set[str]:
    """A set of wire-form numbers, from any iterable of strings (a bare string is refused)."""
    if isinstance(value, str | bytes) or not all(isinstance(v, str) for v in value):
        raise TypeError("expected a collection of number strings")
    return set(value)


def parse_base_path(value: Any) -> str:
    """Empty (the API at the root) or like "/prefix[/more]" (a trailing "/" is dropped)."""
    if not isinstance(value, str):
        raise TypeError("base_path must be a string")
    path: str = value.rstrip("/")
    if not _BASE_PATH_RE.fullmatch(path) or (path + "/").startswith(ADMIN_PREFIX):
        raise ValueError(f"base_path must be '' or like '/smscoreapi', not {value!r}")
    return path


def jsonable(value: Any) -> Any:
    return sorted(value) if isinstance(value, set | frozenset) else value
