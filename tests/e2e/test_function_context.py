"""How the local stack runs a function (lambdas.Container), without the stack: a process of its own
started with exactly the environment it is given, its module state kept between invocations, the
function's timeout counted down and enforced by ending the process, as Lambda ends a timed-out
execution environment."""

import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from local_stack import lambdas

pytestmark = pytest.mark.e2e

PROBE = Path(__file__).resolve().parent / "probe_function"
ENVIRONMENT = {"PATH": os.environ["PATH"], "GREETING": "hello", "AWS_LAMBDA_FUNCTION_TIMEOUT": "29"}


def spec(timeout: float = 29.0) -> lambdas.FunctionSpec:
    return lambdas.FunctionSpec(
        "ProbeFunction", "probe", "sms-gateway-test-probe", 128, timeout, PROBE, "app.lambda_handler"
    )


@pytest.fixture
def probe() -> Iterator[lambdas.Container]:
    container = lambdas.Container(spec(), ENVIRONMENT)
    yield container
    container.stop()


def test_the_function_sees_exactly_the_environment_it_is_given(
    probe: lambdas.Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SET_BY_THE_TEST_PROCESS", "1")
    seen = probe.invoke({"action": "environment"})
    # Python adds LC_CTYPE when the locale is coerced; nothing else is added or inherited.
    assert {k: v for k, v in seen.items() if k != "LC_CTYPE"} == ENVIRONMENT


def test_module_state_lasts_between_invocations_of_one_container(probe: lambdas.Container) -> None:
    first, second = probe.invoke({}), probe.invoke({})
    assert first == second
    assert first["pid"] == probe.pid != os.getpid()


def test_the_context_counts_down_from_the_function_timeout() -> None:
    for timeout in (29.0, 300.0):
        container = lambdas.Container(
            spec(timeout), {**ENVIRONMENT, "AWS_LAMBDA_FUNCTION_TIMEOUT": f"{timeout:g}"}
        )
        try:
            first, later = container.invoke({"action": "remaining"})
        finally:
            container.stop()
        assert timeout * 1000 - 500 <= first <= timeout * 1000
        assert first - 1000 <= later <= first - 150


def test_an_invocation_past_its_timeout_ends_its_environment_and_the_next_gets_a_fresh_one() -> None:
    container = lambdas.Container(spec(0.5), ENVIRONMENT)
    try:
        before = container.invoke({})
        started = time.monotonic()
        with pytest.raises(lambdas.FunctionTimeout, match=r"timed out after 0\.5 seconds"):
            container.invoke({"action": "sleep", "seconds": 10})
        assert 0.45 <= time.monotonic() - started < 9  # cut off, not the 10 s it asked for
        after = container.invoke({})
        assert after["pid"] != before["pid"]  # a new execution environment
        assert after["loaded_at"] > before["loaded_at"]  # its own init phase
        # A caller's shorter limit (API Gateway's) cuts off sooner.
        with pytest.raises(lambdas.FunctionTimeout, match=r"after 0\.2 seconds"):
            container.invoke({"action": "sleep", "seconds": 10}, limit=0.2)
    finally:
        container.stop()


def test_a_handler_error_reaches_the_caller_and_the_environment_stays(probe: lambdas.Container) -> None:
    before = probe.invoke({})
    with pytest.raises(lambdas.FunctionError, match="KeyError: 'boom'"):
        probe.invoke({"action": "raise"})
    assert probe.invoke({})["pid"] == before["pid"]


def test_a_process_that_dies_is_reported_and_replaced(probe: lambdas.Container) -> None:
    before = probe.invoke({})
    with pytest.raises(lambdas.FunctionError, match=r"exited \(3\)"):
        probe.invoke({"action": "exit"})
    assert probe.invoke({})["pid"] != before["pid"]


def test_a_handler_that_cannot_load_is_reported_with_its_error(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("import no_such_module_anywhere\n")
    broken = lambdas.FunctionSpec("Broken", "broken", "broken", 128, 3.0, tmp_path, "app.lambda_handler")
    container = lambdas.Container(broken, ENVIRONMENT)
    with pytest.raises(lambdas.FunctionError, match="No module named 'no_such_module_anywhere'"):
        container.invoke({})
    container.stop()


def test_concurrent_invocations_get_environments_of_their_own_up_to_the_concurrency(tmp_path: Path) -> None:
    function = lambdas.Environments(spec(), ENVIRONMENT, concurrency=2)
    gate = tmp_path / "open"
    try:
        function.start()
        function.wait_ready()
        with ThreadPoolExecutor(3) as pool:
            held = [pool.submit(function.invoke, {"action": "wait_for", "path": str(gate)}) for _ in range(3)]
            deadline = time.monotonic() + 30
            while len(function.containers) < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert len(function.containers) == 2  # the third invocation waits for one of them
            gate.touch()
            pids = [future.result() for future in held]
        assert len(set(pids)) == 2
        assert function.invoke({})["pid"] in set(pids)  # an idle, warm one takes the next
        assert len(function.containers) == 2
    finally:
        function.stop()
