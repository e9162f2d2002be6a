"""The Lambda side of the local stack: each function's execution environment and what it is given.

- `lambda_environment`: a function's whole environment, as Lambda gives it: the template's variables
  (Globals + its own, resolved), the variables Lambda and `sam local` set themselves, and the local
  AWS endpoint. Nothing else of the stack's process reaches a function.
- `Container`: the API's functions, the poller and the stream reader each run in child processes
  (container.py) started with that environment, one invocation at a time, killed and started afresh
  when an invocation runs past its deadline, as Lambda ends a timed-out environment.
- `Environments`: a function's containers, made as concurrent invocations need them (up to the
  stack's `LOCAL_FUNCTION_CONCURRENCY`), as Lambda scales a function out.
- `LocalFunction`: a handler run in this process, in a thread cut off at its deadline: for
  `make invoke` and the SQS containers (queue_container.py), each already a process of its own.
"""

import contextlib
import json
import os
import queue
import subprocess  # nosec B404 - starts the stack's own container processes
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

from . import template as tpl
from .container import LAYER, Handler, LambdaContext, load_handler

__all__ = [
    "LAYER",
    "Container",
    "Environments",
    "Function",
    "FunctionError",
    "FunctionTimeout",
    "LambdaContext",
    "LocalFunction",
]

ROOT = tpl.ROOT
REGION = "us-east-1"
ACCOUNT = "123456789012"
STDERR = 2  # the stack's stderr: its containers' stdout (the handlers' logs) goes there
READY_TIMEOUT_SECONDS = 60.0  # for a container's init phase (imports), on a loaded machine
STOP_GRACE_SECONDS = 5.0

# What a function sees of the local AWS account: Moto takes any credentials.
LOCAL_AWS = {
    "AWS_REGION": REGION,
    "AWS_DEFAULT_REGION": REGION,
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",  # nosec B105 - Moto accepts any credentials
    "AWS_ACCOUNT_ID": ACCOUNT,
}


class Function(Protocol):
    """What the gateway, the schedule and the event sources invoke: a Container or a LocalFunction."""

    @property
    def logical_id(self) -> str: ...

    def invoke(self, event: dict[str, Any], limit: float | None = None) -> Any: ...


class FunctionTimeout(Exception):
    """The invocation ran past its deadline."""


class FunctionError(Exception):
    """The handler raised (its traceback is the message), failed to load, or its process died."""


def ensure_import_paths() -> None:
    """The layer (as Lambda mounts it under /opt/python) and the repository root, importable."""
    for path in (str(LAYER), str(ROOT)):
        if path not in sys.path:
            sys.path.insert(0, path)


@dataclass(frozen=True)
class FunctionSpec:
    """One function of the template as Lambda deploys it."""

    logical_id: str
    folder: str  # the folder name under functions/, e.g. "send"
    name: str  # the deployed FunctionName, e.g. sms-gateway-local-send
    memory: int
    timeout: float  # seconds: the template's Timeout (Globals or the function's), or the override
    code_uri: Path
    handler: str  # module.function


def function_spec(
    template: dict[str, Any], function: tpl.Function, refs: Mapping[str, str], timeout: float | None = None
) -> FunctionSpec:
    """The function as deployed; `timeout` (seconds) replaces the template's Timeout when given."""
    raw_name = tpl.function_property(template, function.logical_id, "FunctionName")
    name = tpl.resolve(raw_name, dict(refs)) if raw_name is not None else function.logical_id
    memory = int(tpl.function_property(template, function.logical_id, "MemorySize", 128))
    return FunctionSpec(
        function.logical_id,
        function.code_uri.name,
        name,
        memory,
        float(function.timeout) if timeout is None else timeout,
        function.code_uri,
        function.handler,
    )


def runtime_variables(spec: FunctionSpec) -> dict[str, str]:
    """What Lambda sets in every function's environment (as `sam local` sets them), beside the
    template's variables. `AWS_SAM_LOCAL` tells Powertools there is no X-Ray daemon to trace to.
    `TZ` is Lambda's `:UTC` unless the stack's own shell names a zone: the local stack can then be
    run with a clock far from Beijing's, proving that signatures never read the machine's zone."""
    return {
        "AWS_SAM_LOCAL": "true",
        "AWS_LAMBDA_FUNCTION_NAME": spec.name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory),
        "AWS_LAMBDA_FUNCTION_TIMEOUT": f"{spec.timeout:g}",
        "AWS_LAMBDA_FUNCTION_HANDLER": spec.handler,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "local",
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "TZ": os.environ.get("TZ") or ":UTC",
    }


def deployed_environment(
    variables: Mapping[str, str], aws_endpoint: str, overrides: Mapping[str, str] = {}
) -> dict[str, str]:
    """What a function is given as deployed here: its template `variables` (resolved), the local
    stack's `overrides` (the settings.TUNABLE a user set) and the local AWS account (Moto)."""
    return {**variables, **overrides, **LOCAL_AWS, "AWS_ENDPOINT_URL": aws_endpoint}


def lambda_environment(spec: FunctionSpec, deployed: Mapping[str, str]) -> dict[str, str]:
    """The function's whole environment: what it is given, and what Lambda sets itself."""
    return {**deployed, **runtime_variables(spec)}


class _Deployed:
    """What the gateway and the event sources read of a function, whatever runs it."""

    spec: FunctionSpec

    @property
    def logical_id(self) -> str:
        return self.spec.logical_id

    @property
    def timeout(self) -> float:
        return self.spec.timeout


class Container(_Deployed):
    """One function's execution environment: a child process (container.py) started with exactly
    `env`, holding its own module state, taking one invocation at a time.

    An invocation past its deadline raises FunctionTimeout and the process is killed; the next
    invocation starts a fresh one (a cold start), as Lambda replaces a timed-out environment.
    """

    def __init__(self, spec: FunctionSpec, env: Mapping[str, str], aws_faults: str = "") -> None:
        self.spec = spec
        self.env = dict(env)
        self.aws_faults = aws_faults  # aws_faults.FaultPlan's text, for the tests and benchmarks
        self.lock = threading.Lock()  # Lambda runs one invocation per execution environment at a time
        self._process: subprocess.Popen[str] | None = None
        self._replies: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._ready = False

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def start(self) -> None:
        """Start the process (its init phase runs while the caller goes on: `wait_ready()`)."""
        read_end, write_end = os.pipe()
        try:
            self._process = subprocess.Popen(  # noqa: S603  # nosec B603 - our own module, no shell
                [
                    sys.executable,
                    "-m",
                    "local_stack.container",
                    str(self.spec.code_uri),
                    self.spec.handler,
                    str(write_end),
                    *([self.aws_faults] if self.aws_faults else []),
                ],
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.PIPE,
                stdout=STDERR,
                pass_fds=(write_end,),
                text=True,
            )
        finally:
            os.close(write_end)
        replies: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._replies, self._ready = replies, False
        reader = os.fdopen(read_end, encoding="utf-8")
        threading.Thread(
            target=_pump, args=(reader, replies), name=f"container-{self.spec.folder}", daemon=True
        ).start()

    def wait_ready(self, timeout: float = READY_TIMEOUT_SECONDS) -> None:
        """Wait for the init phase; FunctionError if the handler failed to load."""
        if self._ready:
            return
        try:
            reply = self._replies.get(timeout=timeout)
        except queue.Empty:
            self._kill()
            raise FunctionError(f"{self.logical_id} did not start within {timeout:g} s") from None
        if reply is None or "init_error" in reply:
            error = "its process exited" if reply is None else reply["init_error"]
            self._kill()
            raise FunctionError(f"{self.logical_id} failed to start:\n{error}")
        self._ready = True

    def invoke(self, event: dict[str, Any], limit: float | None = None) -> Any:
        """The handler's result: one invocation at a time, cut off at the function's timeout (or at
        the caller's `limit`, if sooner)."""
        with self.lock:
            if self._process is None or self._process.poll() is not None:
                self.start()
            self.wait_ready()
            process = self._process
            if process is None or process.stdin is None:
                raise FunctionError(f"{self.logical_id}: no process")
            try:
                process.stdin.write(json.dumps(event) + "\n")
                process.stdin.flush()
            except OSError as error:
                self._kill()
                raise FunctionError(f"{self.logical_id}: its process is gone ({error})") from None
            wait = self.timeout if limit is None else min(self.timeout, limit)
            try:
                reply = self._replies.get(timeout=wait)
            except queue.Empty:
                self._kill()
                raise FunctionTimeout(f"{self.logical_id} timed out after {wait:g} seconds") from None
            if reply is None:
                code = process.wait()
                self._process = None
                raise FunctionError(f"{self.logical_id}: its process exited ({code}) during the invocation")
            if "error" in reply:
                raise FunctionError(f"{self.logical_id} raised:\n{reply['error']}")
            return reply["result"]

    def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """End the process: stdin closed, then killed if it has not exited within `grace`."""
        process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(OSError):
            if process.stdin is not None:
                process.stdin.close()
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def _kill(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.kill()
            process.wait()
            with contextlib.suppress(OSError):
                if process.stdin is not None:
                    process.stdin.close()


class Environments(_Deployed):
    """One function as Lambda scales it: execution environments (Containers) made as invocations
    need them, up to `concurrency` at once, each taking one invocation at a time; an idle one takes
    the next. One is made at start (so the first request finds it warm); the others are cold starts
    when they are first needed, and stay warm until the stack stops."""

    def __init__(
        self, spec: FunctionSpec, env: Mapping[str, str], aws_faults: str = "", concurrency: int = 1
    ) -> None:
        self.spec, self.env, self.aws_faults = spec, dict(env), aws_faults
        self.concurrency = max(1, concurrency)
        self._made: list[Container] = [Container(spec, env, aws_faults)]
        self._idle: list[Container] = list(self._made)
        self._free = threading.Condition()

    @property
    def containers(self) -> list[Container]:
        with self._free:
            return list(self._made)

    def start(self) -> None:
        self._made[0].start()

    def wait_ready(self) -> None:
        self._made[0].wait_ready()

    def invoke(self, event: dict[str, Any], limit: float | None = None) -> Any:
        container = self._take()
        try:
            return container.invoke(event, limit)
        finally:
            with self._free:
                self._idle.append(container)
                self._free.notify()

    def stop(self) -> None:
        for container in self.containers:
            container.stop()

    def _take(self) -> Container:
        with self._free:
            while not self._idle and len(self._made) >= self.concurrency:
                self._free.wait()
            if self._idle:
                return self._idle.pop()
            container = Container(self.spec, self.env, self.aws_faults)
            self._made.append(container)
            return container  # started by its first invocation: a cold start


def _pump(reader: IO[str], replies: "queue.Queue[dict[str, Any] | None]") -> None:
    with reader:
        for line in reader:
            replies.put(json.loads(line))
    replies.put(None)


@dataclass
class LocalFunction:
    """A handler run in this process, one invocation at a time, in a thread cut off at its deadline."""

    logical_id: str
    folder: str
    name: str
    memory: int
    timeout: float
    handler: Handler
    lock: threading.Lock = field(default_factory=threading.Lock)

    def context(self) -> LambdaContext:
        return LambdaContext(
            function_name=self.name,
            memory_limit_in_mb=self.memory,
            invoked_function_arn=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.name}",
            log_group_name=f"/aws/lambda/{self.name}",
            timeout_seconds=self.timeout,
        )

    def invoke(self, event: dict[str, Any], limit: float | None = None) -> Any:
        """The handler's result. Past the deadline FunctionTimeout is raised; the late handler
        finishes in the background (a thread cannot be killed), its result dropped."""
        with self.lock:
            call = _Call(self.handler, event, self.context())
            threading.Thread(target=call.run, name=f"lambda-{self.folder}", daemon=True).start()
            wait = self.timeout if limit is None else min(self.timeout, limit)
            if not call.done.wait(wait):
                raise FunctionTimeout(f"{self.logical_id} timed out after {wait:g} seconds")
            return call.outcome()


class _Call:
    """One invocation's handler call, made in its own thread; its result or error for the caller."""

    def __init__(self, handler: Handler, event: dict[str, Any], context: LambdaContext) -> None:
        self.handler, self.event, self.context = handler, event, context
        self.done = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self.handler(self.event, self.context)
        except BaseException as error:  # handed to the caller, raised there
            self.error = error
        finally:
            self.done.set()

    def outcome(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.result


def local_function(
    template: dict[str, Any], function: tpl.Function, refs: dict[str, str], timeout: float | None = None
) -> LocalFunction:
    """The function's handler, loaded in this process; `timeout` replaces the template's Timeout."""
    spec = function_spec(template, function, refs, timeout)
    ensure_import_paths()
    handler = load_handler(spec.code_uri, spec.handler)
    return LocalFunction(spec.logical_id, spec.folder, spec.name, spec.memory, spec.timeout, handler)


def handler_path(function: tpl.Function) -> Path:
    module = function.handler.rsplit(".", 1)[0]
    return function.code_uri / f"{module.replace('.', '/')}.py"


def reset_caches() -> None:
    """Forget what a warm container keeps (settings, clients, pools, cached secrets), as a SnapStart
    restore does (for the tests that run handlers in their own process)."""
    ensure_import_paths()
    from smsgw.platform.snapstart import forget_warm_state  # noqa: PLC0415 - the layer's own list

    forget_warm_state()
