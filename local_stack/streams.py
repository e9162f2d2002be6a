"""Lambda's DynamoDB stream event sources, as threads of the local stack.

Each `Type: DynamoDB` event of a function reads its table's stream (Moto's), keeps the records its
FilterCriteria patterns match, and hands them to the function in batches of up to BatchSize,
waiting up to MaximumBatchingWindowInSeconds to fill one. A batch whose invocation raised is handed
over again after a pause, whole, as Lambda retries a stream batch, up to MaximumRetryAttempts; then
it is dropped (with a line in the log), as Lambda drops it.
"""

import json
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from . import lambdas
from . import template as tpl
from .log import log

RETRY_PAUSE_S = 1.0
IDLE_PAUSE_S = 0.2


@dataclass(frozen=True)
class StreamSource:
    function: str  # logical id
    table: str  # the table's name
    batch_size: int
    window_s: float
    starting_position: str
    patterns: tuple[dict[str, Any], ...]
    retries: int


def sources(template: dict[str, Any], refs: dict[str, str]) -> list[StreamSource]:
    """The template's DynamoDB stream event sources (`Stream: !GetAtt <Table>.StreamArn`)."""
    found = []
    for logical_id, props in tpl.events(template, "DynamoDB"):
        target = props["Stream"]["Fn::GetAtt"]
        table = (target if isinstance(target, list) else target.split("."))[0]
        filters = props.get("FilterCriteria", {}).get("Filters", [])
        found.append(
            StreamSource(
                logical_id,
                refs[table],
                int(props.get("BatchSize", 100)),
                float(props.get("MaximumBatchingWindowInSeconds", 0)),
                str(props.get("StartingPosition", "LATEST")),
                tuple(json.loads(f["Pattern"]) for f in filters),
                int(props.get("MaximumRetryAttempts", 10_000)),
            )
        )
    return found


def matches(pattern: dict[str, Any], record: dict[str, Any]) -> bool:
    """Lambda's filter rules, the part this template uses: nested fields, a list of values any of
    which may match, and `{"prefix": ...}`. Any other rule is refused, not guessed."""
    for name, expected in pattern.items():
        if name not in record:
            return False
        value = record[name]
        if isinstance(expected, dict):
            if not isinstance(value, dict) or not matches(expected, value):
                return False
        elif not any(_matches_one(rule, value) for rule in expected):
            return False
    return True


def _matches_one(rule: Any, value: Any) -> bool:
    if isinstance(rule, dict):
        if set(rule) == {"prefix"}:
            return isinstance(value, str) and value.startswith(rule["prefix"])
        raise ValueError(f"filter rule {rule} is not supported by the local stack")
    return bool(rule == value)


class StreamPollers:
    """One poller thread per stream event source (Moto's streams have one shard), invoking the
    function's container: started together, stopped together."""

    def __init__(
        self,
        template: dict[str, Any],
        refs: dict[str, str],
        functions: Mapping[str, lambdas.Function],
        client: Callable[[str], Any],
    ) -> None:
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        for source in sources(template, refs):
            function = functions.get(source.function)
            if function is None:
                continue
            self._threads.append(
                threading.Thread(
                    target=self._poll,
                    args=(source, function, client("dynamodb"), client("dynamodbstreams")),
                    name=f"local-stream-{source.function}",
                    daemon=True,
                )
            )

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stopping.set()
        for thread in self._threads:
            thread.join()

    def _poll(self, source: StreamSource, function: lambdas.Function, dynamodb: Any, streams: Any) -> None:
        try:
            arn = dynamodb.describe_table(TableName=source.table)["Table"]["LatestStreamArn"]
            shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
            iterator = streams.get_shard_iterator(
                StreamArn=arn, ShardId=shard, ShardIteratorType=source.starting_position
            )["ShardIterator"]
        except Exception:
            log(f"{source.function} stream: {traceback.format_exc().rstrip()}")
            return
        pending: list[dict[str, Any]] = []
        since = 0.0
        while not self._stopping.is_set():
            try:
                got = streams.get_records(ShardIterator=iterator, Limit=1000)
            except Exception:
                if not self._stopping.is_set():
                    log(f"{source.function} stream: {traceback.format_exc().rstrip()}")
                self._stopping.wait(RETRY_PAUSE_S)
                continue
            iterator = got["NextShardIterator"]
            kept = [
                _as_lambda_sees_it(r, arn)
                for r in got["Records"]
                if not source.patterns or any(matches(p, r) for p in source.patterns)
            ]
            if kept and not pending:
                since = time.monotonic()
            pending += kept
            while pending and (
                len(pending) >= source.batch_size or time.monotonic() - since >= source.window_s
            ):
                batch, pending = pending[: source.batch_size], pending[source.batch_size :]
                self._deliver(source, function, batch)
                since = time.monotonic()
            if not got["Records"]:
                self._stopping.wait(IDLE_PAUSE_S)

    def _deliver(self, source: StreamSource, function: lambdas.Function, batch: list[dict[str, Any]]) -> None:
        for attempt in range(source.retries + 1):
            try:
                function.invoke({"Records": batch})
                return
            except Exception:
                log(
                    f"{source.function} failed (attempt {attempt + 1}); the batch comes back:\n"
                    + traceback.format_exc().rstrip()
                )
            if self._stopping.wait(RETRY_PAUSE_S):
                return
        log(f"{source.function}: a batch of {len(batch)} records dropped after its retries")


def _as_lambda_sees_it(record: dict[str, Any], arn: str) -> dict[str, Any]:
    """A stream record as Lambda's event carries it: times as epoch seconds, the stream's ARN."""
    image = dict(record["dynamodb"])
    created = image.get("ApproximateCreationDateTime")
    if created is not None and hasattr(created, "timestamp"):
        image["ApproximateCreationDateTime"] = created.timestamp()
    return {**record, "dynamodb": image, "eventSourceARN": arn}
