"""Speed-ups for the local stack's Moto server process; neither changes an answer.

1. Moto's server looks up which backend serves each request by listing its own package folder
   (`moto.backends.list_of_moto_modules`: a listdir and dozens of stats, under a global lock) —
   per request. The folder does not change while the server runs: the list is read once.

2. Query:
Moto 5 answers every Query by sorting *all* items of the table (`Table.all_items()`, with slow
DynamoType comparisons) and then filtering: a status lookup costs O(n log n) in the table's size,
~0.3 s per lookup once a bulk send has filled the table. Here, inside `Table.query` only (per
thread: Moto's server answers each request on its own thread), `all_items()` yields just the
queried partition for a table query, and the unsorted items for an index query (which Moto sorts
again by the index's keys afterwards). The results are the same; only the work is smaller.
"""

import inspect
import threading
from collections.abc import Callable, Iterable
from typing import Any

from moto import backends
from moto.dynamodb.models.table import Table

_state = threading.local()
_installed = False


def _partition(table: Any, hash_key: Any) -> list[Any]:
    bucket = table.items.get(hash_key)
    if bucket is None:
        return []
    return list(bucket.values()) if table.range_key_attr else [bucket]


def _unsorted(table: Any) -> list[Any]:
    if table.range_key_attr:
        return [item for bucket in list(table.items.values()) for item in list(bucket.values())]
    return list(table.items.values())


def install() -> None:
    """Patch Moto's Table once per process (idempotent)."""
    global _installed  # noqa: PLW0603 - one patch per process
    if _installed:
        return
    modules = tuple(backends.list_of_moto_modules())

    def list_of_moto_modules() -> Iterable[str]:
        return modules

    backends.list_of_moto_modules = list_of_moto_modules
    original_all_items: Callable[[Any], list[Any]] = Table.all_items
    original_query: Callable[..., Any] = Table.query
    signature = inspect.signature(original_query)

    def all_items(self: Any) -> list[Any]:
        view: tuple[Any, Callable[[], list[Any]]] | None = getattr(_state, "view", None)
        if view is not None and view[0] is self:
            return view[1]()
        return original_all_items(self)

    def query(self: Any, *args: Any, **kwargs: Any) -> Any:
        arguments = signature.bind(self, *args, **kwargs).arguments
        hash_key, index_name = arguments.get("hash_key"), arguments.get("index_name")
        if index_name:
            _state.view = (self, lambda: _unsorted(self))
        elif hash_key is not None:
            _state.view = (self, lambda: _partition(self, hash_key))
        try:
            return original_query(self, *args, **kwargs)
        finally:
            _state.view = None

    Table.all_items = all_items  # type: ignore[method-assign]
    Table.query = query  # type: ignore[method-assign]
    _installed = True
