"""Lambda's SQS event sources and EventBridge Scheduler's one-time schedules, for the local stack.

Each `Type: SQS` event of a function becomes `MaximumConcurrency` pollers, each its own execution
environment in a process of its own: one invocation at a time. A poller long-polls, gathers up to
`BatchSize` messages, ten to a ReceiveMessage (SQS's most), for at most
`MaximumBatchingWindowInSeconds` from the first, invokes the function and deletes what it did not
report failed (ReportBatchItemFailures). A message it failed, or a batch whose invocation raised,
stays on the queue and comes back after its visibility timeout, as with Lambda. The scheduler fires
each `at(...)` schedule once it is due: its input goes to its SQS target, and the schedule is
deleted (ActionAfterCompletion DELETE).
"""

import contextlib
import json
import os
import select
import subprocess  # nosec B404 - starts the stack's own poller processes
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from . import lambdas
from . import template as tpl
from .log import log
from .poller import Every

DEFAULT_CONCURRENCY = 2  # the lowest MaximumConcurrency Lambda allows
# Lambda's pollers long-poll: a message sent to an idle queue is taken at once (Moto's long poll
# waits on the queue, woken by a send), and an idle poller asks once a second. One second, so that
# stop() waits no longer for a poller to see it.
LONG_POLL_SECONDS = 1
WINDOW_PAUSE_SECONDS = 0.02  # between receives while a batch is gathered within its window
ERROR_PAUSE_SECONDS = 0.5  # after a failed receive (Moto going away), before the next
RECEIVE_MOST = 10  # messages per ReceiveMessage and per DeleteMessageBatch
CHILD_STOP_GRACE_SECONDS = 5.0  # beyond the function's timeout, for a poller process to exit
STDERR = 2  # the stack's stderr file descriptor: its children write their lines there too


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


class QueuePoller:
    """One execution environment of an SQS event source: gathers a batch, invokes the function with
    it and deletes what it did not report failed, until stopped."""

    def __init__(
        self,
        source: QueueSource,
        function: lambdas.Function | None,
        sqs: Any,
    ) -> None:
        self.source, self.function, self.sqs = source, function, sqs
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                got = self.gather()
            except Exception:
                if not self.stopping.is_set():
                    log(f"{self.source.function} poller: {traceback.format_exc().rstrip()}")
                self.stopping.wait(ERROR_PAUSE_SECONDS)
                continue
            if got:
                self.deliver(got)

    def gather(self) -> list[dict[str, Any]]:
        """Up to BatchSize messages, ten to a ReceiveMessage, gathered for at most the batching window
        from the first one received; none if the queue stays empty for a long poll."""
        source = self.source
        got: list[dict[str, Any]] = []
        first = 0.0
        while len(got) < source.batch_size and not self.stopping.is_set():
            more = self.sqs.receive_message(
                QueueUrl=source.queue_url,
                MaxNumberOfMessages=min(RECEIVE_MOST, source.batch_size - len(got)),
                AttributeNames=["ApproximateReceiveCount", "SentTimestamp"],
                WaitTimeSeconds=0 if got else LONG_POLL_SECONDS,
            ).get("Messages", [])
            if not got:
                if not more:
                    break
                first = time.monotonic()
            got += more
            if time.monotonic() - first >= source.window_s:
                break
            if not more:
                self.stopping.wait(WINDOW_PAUSE_SECONDS)
        return got

    def deliver(self, got: list[dict[str, Any]]) -> None:
        source = self.source
        if self.function is None:
            raise RuntimeError("no function to invoke")
        try:
            result = self.function.invoke(sqs_event(source, got))
        except Exception:
            log(
                f"{source.function} failed; the batch returns after its visibility timeout:\n"
                + traceback.format_exc().rstrip()
            )
            return
        failed = {f["itemIdentifier"] for f in (result or {}).get("batchItemFailures", [])}
        done = [m for m in got if m["MessageId"] not in failed]
        for start in range(0, len(done), RECEIVE_MOST):
            self.sqs.delete_message_batch(
                QueueUrl=source.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(done[start : start + RECEIVE_MOST])
                ],
            )


class QueuePollers:
    """Every SQS event source of the template, `concurrency` execution environments each. Each one
    is a child process (`python -m local_stack.queue_container`), as each Lambda container is a
    process of its own: its own interpreter lock, garbage collector and warm state (the account
    rate's places it holds, its clients), not shared with the API's functions or other containers.
    A child is started with exactly its function's environment (`environments`, by logical id),
    reads its source on stdin and stops when stdin closes: when stop() says so, or when the stack is
    gone."""

    def __init__(
        self,
        template: dict[str, Any],
        refs: dict[str, str],
        environments: Mapping[str, Mapping[str, str]],
        timeout: float | None,
        aws_faults: str = "",
    ) -> None:
        functions = tpl.functions(template)
        found = [source for source in sources(template, refs) if source.function in environments]
        self._specs = [
            {"source": asdict(source), "refs": refs, "timeout": timeout, "aws_faults": aws_faults}
            for source in found
            for _ in range(source.concurrency)
        ]
        self._environments = environments
        longest = max((functions[s.function].timeout for s in found), default=0.0)
        self._stop_s = (longest if timeout is None else timeout) + CHILD_STOP_GRACE_SECONDS
        self._children: list[subprocess.Popen[str]] = []
        self._ready: list[int] = []  # read ends of the children's ready pipes

    @property
    def processes(self) -> list["subprocess.Popen[str]"]:
        """The running execution environments' processes (none once stopped)."""
        return list(self._children)

    def start(self) -> None:
        """Start every child; each one's init (its handler's imports) runs while the caller goes on:
        `wait_ready()`."""
        for spec in self._specs:
            function = str(spec["source"]["function"])  # type: ignore[index]
            ready, told = os.pipe()  # the child writes a line on `told` once its init is done
            child = subprocess.Popen(  # noqa: S603  # nosec B603 - our own module, no shell
                [sys.executable, "-m", "local_stack.queue_container", function],
                cwd=lambdas.ROOT,
                env=dict(self._environments[function]),
                stdin=subprocess.PIPE,
                stdout=STDERR,  # handlers log to stdout, as in Lambda: here the stack's stderr
                text=True,
                pass_fds=(told,),
            )
            os.close(told)
            self._children.append(child)
            self._ready.append(ready)
            if child.stdin is not None:
                child.stdin.write(json.dumps({**spec, "ready_fd": told}) + "\n")
                child.stdin.flush()

    def wait_ready(self, timeout: float = lambdas.READY_TIMEOUT_SECONDS) -> None:
        """Until every child has finished its init: one still importing would take the CPU from the
        first requests the stack answers (on a 2-core machine, for seconds)."""
        deadline = time.monotonic() + timeout
        waiting, self._ready = self._ready, []
        for ready in waiting:
            with os.fdopen(ready, "rb") as pipe:
                readable, _, _ = select.select([pipe], [], [], max(0.0, deadline - time.monotonic()))
                if not readable or not pipe.readline():
                    raise RuntimeError(f"an SQS poller was not ready within {timeout:g} s")

    def stop(self) -> None:
        """Each child ends its invocation under way (if any) and exits; one still running past the
        function's timeout and a grace is killed."""
        children, self._children = self._children, []
        for child in children:
            with contextlib.suppress(OSError):
                if child.stdin is not None:
                    child.stdin.close()
        deadline = time.monotonic() + self._stop_s
        for child in children:
            try:
                child.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log(f"an SQS poller (pid {child.pid}) did not stop in {self._stop_s:g} s: killed")
                child.kill()
                child.wait()


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
