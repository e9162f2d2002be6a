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

3. One DynamoDB request at a time: Moto's tables are plain dicts that its server's threads share.
A receipt creating an item while the poller's index query walks the table can fail the query with
"dictionary changed size during iteration", an internal error DynamoDB never gives. DynamoDB
applies each request atomically; here they are simply applied one after another.

4. TransactWriteItems:
Moto 5 deep-copies every table a transaction names before applying it, to roll back on failure:
O(table size) time and memory per transaction (a limits table with thousands of counters costs
megabytes per verification code request). Here the copy is skipped, and the items the transaction
names are saved instead and put back if it fails: the same rollback, at the size of the transaction.

5. SQS ReceiveMessage:
For each message it hands out, Moto 5 checks the retention period by building all of the queue's
attributes, several counts over every message among them: O(queue) per message received, most of
Moto's time once a campaign has enqueued a thousand chunks. Here the period is read directly.
SendMessage builds the same attributes per message only to ask a FIFO queue's
ContentBasedDeduplication: for a standard queue (which has no such attribute) that question is
answered without counting anything.

6. DynamoDB Streams GetRecords:
Moto 5 writes each answer by walking the service model shape by shape, looking up aliases for every
attribute of every image: most of its time while a campaign fills the messages table's stream. The
records are kept in the wire's JSON form already (but their creation time and binary values), so they
are written with json.dumps; an answer holding anything else goes the original way.

7. Every request, Moto lists the methods of the service's response class (inspect.getmembers over
   its whole class hierarchy) to know whether the action is one of them. A class's methods do not
   change while the server runs: the list is made once per class.
"""

import base64
import calendar
import copy
import datetime
import functools
import inspect
import json
import threading
from collections.abc import Callable, Iterable
from typing import Any

from moto import backends
from moto.core import responses as moto_responses
from moto.core.utils import unix_time
from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.dynamodb.responses import DynamoHandler
from moto.dynamodbstreams.responses import DynamoDBStreamsHandler
from moto.sqs.models import Queue, SQSBackend

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
    _install_item_level_rollback()
    _install_one_request_at_a_time()
    SQSBackend.is_message_valid_based_on_retention_period = _within_retention  # type: ignore[method-assign]
    _install_cheap_standard_sends()
    _install_plain_stream_records()
    listed: Callable[[object], list[str]] = moto_responses.method_names_from_class  # type: ignore[attr-defined]
    moto_responses.method_names_from_class = functools.cache(listed)  # type: ignore[attr-defined]
    _installed = True


ORIGINAL_GET_RECORDS: Callable[[Any], Any] = DynamoDBStreamsHandler.get_records


def _install_plain_stream_records() -> None:
    def get_records(self: Any) -> Any:
        limit = self._get_param("Limit")
        result = self.backend.get_records(self._get_param("ShardIterator"), 1000 if limit is None else limit)
        try:
            return json.dumps(result, default=_wire)
        except TypeError:
            return ORIGINAL_GET_RECORDS(self)  # something this does not know how to write

    DynamoDBStreamsHandler.get_records = get_records  # type: ignore[method-assign]


def _wire(value: Any) -> int | float | str:
    """What JSON cannot hold, as the JSON protocol writes it: a binary value in base64, a timestamp in
    seconds, at most milliseconds (Moto's are UTC)."""
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if not isinstance(value, datetime.datetime):
        raise TypeError(type(value).__name__)
    seconds = calendar.timegm(value.utctimetuple())
    return seconds + (value.microsecond // 1000) / 1000 if value.microsecond else seconds


def _install_cheap_standard_sends() -> None:
    original_send: Callable[..., Any] = SQSBackend.send_message
    original_attributes: Callable[[Any], dict[str, Any]] = Queue.attributes.fget  # type: ignore[attr-defined]

    def send_message(self: Any, queue_name: str, *args: Any, **kwargs: Any) -> Any:
        _state.standard_send = not self.get_queue(queue_name).fifo_queue
        try:
            return original_send(self, queue_name, *args, **kwargs)
        finally:
            _state.standard_send = False

    def attributes(self: Any) -> dict[str, Any]:
        if getattr(_state, "standard_send", False):
            return {}  # a standard queue has no FIFO attributes: all that sending asks of them
        return original_attributes(self)

    SQSBackend.send_message = send_message  # type: ignore[method-assign]
    Queue.attributes = property(attributes)  # type: ignore[method-assign,assignment]


def _within_retention(self: Any, queue_name: str, message: Any) -> bool:
    queue = self.get_queue(queue_name)
    return bool(int(queue.message_retention_period) + message.sent_timestamp / 1000 > unix_time())


def _install_one_request_at_a_time() -> None:
    original: Callable[[Any], Any] = DynamoHandler.call_action
    lock = threading.Lock()

    def call_action(self: Any) -> Any:
        with lock:
            return original(self)

    DynamoHandler.call_action = call_action  # type: ignore[method-assign]


class _NoTableCopy:
    """`copy` as Moto's DynamoDB models see it: tables are not deep-copied (see 4. above)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)

    @staticmethod
    def deepcopy(value: Any, memo: Any = None) -> Any:
        return value if isinstance(value, Table) else copy.deepcopy(value, memo)


def _install_item_level_rollback() -> None:
    original: Callable[..., None] = DynamoDBBackend.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        saved = []
        for entry in transact_items:
            for op in entry.values():
                table = self.tables.get(op.get("TableName"))
                if table is None:
                    continue
                raw = op.get("Key") or op.get("Item") or {}
                key = (
                    DynamoType(raw[table.hash_key_attr]) if table.hash_key_attr in raw else None,
                    DynamoType(raw[table.range_key_attr]) if table.range_key_attr in raw else None,
                )
                if key[0] is not None:
                    saved.append((table, key, copy.deepcopy(table.get_item(*key))))
        try:
            original(self, transact_items)
        except Exception:
            for table, (hash_key, range_key), item in reversed(saved):
                _restore(table, hash_key, range_key, item)
            raise

    dynamodb_models.copy = _NoTableCopy()  # type: ignore[attr-defined,assignment]
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def _restore(table: Any, hash_key: Any, range_key: Any, item: Any) -> None:
    """Put an item back as it was (None: it did not exist)."""
    if table.range_key_attr:
        bucket = table.items[hash_key]
        if item is None:
            bucket.pop(range_key, None)
        else:
            bucket[range_key] = item
    elif item is None:
        table.items.pop(hash_key, None)
    else:
        table.items[hash_key] = item
