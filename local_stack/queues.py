"""Lambda's SQS event sources and EventBridge Scheduler's one-time schedules, as threads of the
local stack.

Each `Type: SQS` event of a function becomes `MaximumConcurrency` pollers (each its own execution
environment: one invocation at a time). A poller gathers up to `BatchSize` messages, ten to a
ReceiveMessage (SQS's most), for at most `MaximumBatchingWindowInSeconds` from the first, invokes
the function and deletes what it did not report failed (ReportBatchItemFailures). A message it
failed, or a batch whose invocation raised, stays on the queue and comes back after its visibility
timeout, as with Lambda. The scheduler fires each `at(...)` schedule once it is due: its input goes
to its SQS target, and the schedule is deleted (ActionAfterCompletion DELETE).
"""

import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from . import lambdas
from . import template as tpl
from .log import log
from .poller import Every

DEFAULT_CONCURRENCY = 2  # the lowest MaximumConcurrency Lambda allows
# Short polls with a growing pause when the queue is empty (Moto's long poll spins in its process,
# beside the DynamoDB work of everything else): idle, a poller asks twice a second.
IDLE_PAUSES = (0.02, 0.05, 0.1, 0.2, 0.5)
RECEIVE_MOST = 10  # messages per ReceiveMessage and per DeleteMessageBatch


@dataclass(frozen=True)
class QueueSource:
    function: str  # logical id
    queue_url: str
    queue_arn: str
    batch_size: int
    concurrency: int
    window_s: float = 0.0  # MaximumBatchingWindowInSeconds


def sources(template: dict[str, Any], refs: dict[str, str]) -> list[QueueSource]:
    """The template's SQS event sources, resolved as the local stack names things."""
    found = []
    for logical_id, props in tpl.events(template, "SQS"):
        arn = tpl.resolve(props["Queue"], refs)
        queue = next(k for k, v in refs.items() if v == arn).removesuffix(".Arn")
        scaling = props.get("ScalingConfig", {}).get("MaximumConcurrency", DEFAULT_CONCURRENCY)
        found.append(
            QueueSource(
                logical_id,
                refs[queue],
                arn,
                int(tpl.resolve(props.get("BatchSize", 10), refs)),
                int(tpl.resolve(scaling, refs)),
                float(tpl.resolve(props.get("MaximumBatchingWindowInSeconds", 0), refs)),
            )
        )
    return found


def sqs_event(source: QueueSource, messages: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": {
                    "ApproximateReceiveCount": m.get("Attributes", {}).get("ApproximateReceiveCount", "1"),
                    "SentTimestamp": m.get("Attributes", {}).get("SentTimestamp", "0"),
                },
                "messageAttributes": {},
                "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": source.queue_arn,
                "awsRegion": "us-east-1",
            }
            for m in messages
        ]
    }


class Pollers:
    """Threads that poll an event source until stopped: started together, stopped together."""

    def __init__(self) -> None:
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stopping.set()
        for thread in self._threads:
            thread.join()


class QueuePollers(Pollers):
    """Every SQS event source of the template, `concurrency` poller threads each."""

    def __init__(
        self,
        template: dict[str, Any],
        refs: dict[str, str],
        client: Callable[[str], Any],
        timeout: float | None,
    ) -> None:
        super().__init__()
        functions = tpl.functions(template)
        for source in sources(template, refs):
            for n in range(source.concurrency):
                environment = lambdas.local_function(template, functions[source.function], refs, timeout)
                self._threads.append(
                    threading.Thread(
                        target=self._poll,
                        args=(source, environment, client("sqs")),
                        name=f"local-sqs-{source.function}-{n}",
                        daemon=True,
                    )
                )

    def _poll(self, source: QueueSource, function: lambdas.LocalFunction, sqs: Any) -> None:
        idle = 0
        while not self._stopping.is_set():
            try:
                got = self._gather(source, sqs)
            except Exception:
                got = []
                if not self._stopping.is_set():
                    log(f"{source.function} poller: {traceback.format_exc().rstrip()}")
            if got:
                idle = 0
                self._deliver(source, function, sqs, got)
            else:
                self._stopping.wait(IDLE_PAUSES[min(idle, len(IDLE_PAUSES) - 1)])
                idle += 1

    def _gather(self, source: QueueSource, sqs: Any) -> list[dict[str, Any]]:
        """Up to BatchSize messages, ten to a ReceiveMessage, gathered for at most the batching window
        from the first one received (none: the caller pauses)."""
        got: list[dict[str, Any]] = []
        first = 0.0
        while len(got) < source.batch_size and not self._stopping.is_set():
            more = sqs.receive_message(
                QueueUrl=source.queue_url,
                MaxNumberOfMessages=min(RECEIVE_MOST, source.batch_size - len(got)),
                AttributeNames=["ApproximateReceiveCount", "SentTimestamp"],
            ).get("Messages", [])
            if not got:
                if not more:
                    break
                first = time.monotonic()
            got += more
            if time.monotonic() - first >= source.window_s:
                break
            if not more:
                self._stopping.wait(IDLE_PAUSES[0])
        return got

    @staticmethod
    def _deliver(
        source: QueueSource, function: lambdas.LocalFunction, sqs: Any, got: list[dict[str, Any]]
    ) -> None:
        try:
            result = function.invoke(sqs_event(source, got))
        except Exception:
            log(
                f"{source.function} failed; the batch returns after its visibility timeout:\n"
                + traceback.format_exc().rstrip()
            )
            return
        failed = {f["itemIdentifier"] for f in (result or {}).get("batchItemFailures", [])}
        done = [m for m in got if m["MessageId"] not in failed]
        for start in range(0, len(done), RECEIVE_MOST):
            sqs.delete_message_batch(
                QueueUrl=source.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(done[start : start + RECEIVE_MOST])
                ],
            )


class Scheduler:
    """EventBridge Scheduler's one-time `at(...)` schedules with SQS targets."""

    def __init__(self, refs: dict[str, str], client: Callable[[str], Any]) -> None:
        self._urls = {
            v: refs[k.removesuffix(".Arn")] for k, v in refs.items() if k.endswith(".Arn") and ":sqs:" in v
        }
        self._scheduler = client("scheduler")
        self._sqs = client("sqs")

    def tick(self) -> None:
        try:
            self.fire_due(datetime.now(UTC))
        except Exception:
            log(f"scheduler: {traceback.format_exc().rstrip()}")

    def fire_due(self, now: datetime) -> int:
        fired = 0
        for summary in self._scheduler.list_schedules().get("Schedules", []):
            group = summary.get("GroupName", "default")
            schedule = self._scheduler.get_schedule(Name=summary["Name"], GroupName=group)
            expression = schedule["ScheduleExpression"]
            if not expression.startswith("at("):
                continue
            if datetime.fromisoformat(expression[3:-1]).replace(tzinfo=UTC) > now:
                continue
            target = schedule["Target"]
            self._sqs.send_message(QueueUrl=self._urls[target["Arn"]], MessageBody=target.get("Input", "{}"))
            self._scheduler.delete_schedule(Name=summary["Name"], GroupName=group)
            fired += 1
        return fired


def scheduler(refs: dict[str, str], client: Callable[[str], Any], interval: float = 1.0) -> Every:
    """The scheduler, checked every `interval` seconds."""
    return Every(interval, Scheduler(refs, client).tick, "local-scheduler")
