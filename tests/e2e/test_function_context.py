"""How the local stack runs a function (lambdas.LocalFunction), in-process and without the stack:
each invocation's log lines labelled with its own function and correlation id though every function
shares the layer's one Logger, and the function's timeout counted down and enforced."""

import json
import logging
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from aws_lambda_powertools.logging import correlation_paths

from local_stack.lambdas import FunctionTimeout, LambdaContext, LocalFunction
from smsgw.observability import logger

pytestmark = pytest.mark.e2e

ROUNDS = 60  # invocations of each function
STEPS = 3  # lines logged by the invocation's own thread
WORKERS = 2  # lines logged by threads it starts


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def chatty_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Logs from its own thread (yielding between lines) and from pool workers, as send does."""
    invocation = event["invocation"]
    for step in range(STEPS):
        logger.info("step", extra={"invocation": invocation, "step": step})
        time.sleep(0.001)

    def work(worker: int) -> None:
        logger.info("worker", extra={"invocation": invocation, "worker": worker})

    with ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(work, range(WORKERS)))
    return {"statusCode": 200, "body": context.aws_request_id}


def function(name: str, handler: Any, timeout: float = 29.0) -> LocalFunction:
    return LocalFunction(name.title(), name, f"sms-gateway-test-{name}", 128, timeout, handler)


class Capture(logging.Handler):
    """Every line the layer's Logger writes, formatted (in the logging thread) as it writes it."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:  # called under the handler's lock
        self.lines.append(self.format(record))


@pytest.fixture
def captured() -> Iterator[Capture]:
    capture = Capture()
    capture.setFormatter(logger.registered_formatter)
    underlying = logging.getLogger(logger.name)
    level = underlying.level
    underlying.addHandler(capture)
    logger.setLevel("INFO")
    try:
        yield capture
    finally:
        underlying.removeHandler(capture)
        underlying.setLevel(level)


def test_concurrent_functions_label_every_log_line_with_their_own_invocation(captured: Capture) -> None:
    functions = {name: function(name, chatty_handler) for name in ("alpha", "beta")}
    shared_before = dict(logger.get_current_keys())

    def invoke(name: str, index: int) -> tuple[str, str]:
        invocation = f"{name}-{index}"
        event = {"invocation": invocation, "requestContext": {"requestId": f"req-{invocation}"}}
        return invocation, functions[name].invoke(event)["body"]

    # Two callers per function: each function's invocations queue on its lock, the two functions'
    # run at the same time.
    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(invoke, name, i) for i in range(ROUNDS) for name in functions]
        request_ids = dict(future.result() for future in futures)

    lines = [json.loads(line) for line in captured.lines]
    assert len(lines) == 2 * ROUNDS * (STEPS + WORKERS)
    wrong = [
        line
        for line in lines
        if (
            line.get("function_name"),
            line.get("correlation_id"),
            line.get("function_request_id"),
        )
        != (
            functions[line["invocation"].split("-")[0]].name,
            f"req-{line['invocation']}",
            request_ids[line["invocation"]],
        )
    ]
    assert not wrong, f"{len(wrong)} of {len(lines)} lines mislabelled, e.g. {wrong[:2]}"
    # The invocations' keys were their own: the Logger's keys outside them are untouched.
    assert logger.get_current_keys() == shared_before


def test_the_context_counts_down_from_the_function_timeout() -> None:
    def remaining(event: dict[str, Any], context: LambdaContext) -> tuple[int, int]:
        first = context.get_remaining_time_in_millis()
        time.sleep(0.2)
        return first, context.get_remaining_time_in_millis()

    for timeout in (29.0, 300.0):
        first, later = function("probe", remaining, timeout).invoke({})
        assert timeout * 1000 - 500 <= first <= timeout * 1000
        assert first - 1000 <= later <= first - 150


def test_an_invocation_past_its_timeout_is_cut_off_and_the_function_stays_available() -> None:
    release = threading.Event()
    finished = threading.Event()

    def handler(event: dict[str, Any], context: LambdaContext) -> str:
        if event.get("slow"):
            release.wait(10)
            finished.set()
        return "done"

    probe = function("probe", handler, timeout=0.5)
    try:
        started = time.monotonic()
        with pytest.raises(FunctionTimeout, match=r"timed out after 0\.5 seconds"):
            probe.invoke({"slow": True})
        assert 0.45 <= time.monotonic() - started < 2.0
        # The late handler goes on in the background; the next invocation does not wait for it.
        assert probe.invoke({}) == "done"
        assert not finished.is_set()
        # A caller's shorter limit (API Gateway's) cuts off sooner.
        with pytest.raises(FunctionTimeout, match=r"after 0\.2 seconds"):
            probe.invoke({"slow": True}, limit=0.2)
    finally:
        release.set()
    assert finished.wait(5)


def test_a_handler_error_reaches_the_caller() -> None:
    def handler(event: dict[str, Any], context: LambdaContext) -> None:
        raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        function("probe", handler).invoke({})
