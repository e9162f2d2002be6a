"""The Lambda side of the local stack: each function's handler loaded from its folder, run in-process.

Shared by the local stack (`python -m local_stack`) and the one-shot runner (`python -m local_stack.invoke`).
"""

import importlib.util
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import logcontext
from . import template as tpl

ROOT = tpl.ROOT
LAYER = ROOT / "layers" / "smsgw"
REGION = "us-east-1"
ACCOUNT = "123456789012"

Handler = Callable[[dict[str, Any], Any], Any]


class FunctionTimeout(Exception):
    """The handler ran past its deadline (and goes on in the background: a thread cannot be killed)."""


def ensure_import_paths() -> None:
    """The layer (as Lambda mounts it under /opt/python) and the repository root, importable."""
    for path in (str(LAYER), str(ROOT)):
        if path not in sys.path:
            sys.path.insert(0, path)


@dataclass
class LambdaContext:
    """What Lambda passes as `context` (the attributes Powertools and the handlers read)."""

    function_name: str
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = ""
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "local"
    timeout_seconds: float = 3.0
    started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.started + self.timeout_seconds - time.monotonic()) * 1000))


@dataclass
class LocalFunction:
    """One function of the template: its handler, loaded once (a warm container), and its lock."""

    logical_id: str
    folder: str  # the folder name under functions/, e.g. "send"
    name: str  # the deployed FunctionName, e.g. sms-gateway-local-send
    memory: int
    timeout: float  # seconds: the template's Timeout (Globals or the function's), or the override
    handler: Handler
    # Lambda runs one invocation per execution environment at a time.
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
        """The handler's result, as Lambda runs it: one invocation at a time, its context counting
        down from the function's timeout, cut off there (or at the caller's `limit`, if sooner).

        The handler runs in a thread of its own with logging keys of its own (logcontext). Past the
        deadline FunctionTimeout is raised and the function takes its next invocation; the late
        handler finishes in the background, its result dropped, as Lambda drops a timed-out
        environment and starts a fresh one.
        """
        with self.lock:
            call = _Call(self.handler, event, self.context())
            logcontext.invocation_thread(call.run, f"lambda-{self.folder}").start()
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


def handler_path(function: tpl.Function) -> Path:
    module = function.handler.rsplit(".", 1)[0]
    return function.code_uri / f"{module.replace('.', '/')}.py"


def load_handler(function: tpl.Function) -> Handler:
    """The function's handler under a distinct module name: every function's module is called `app`."""
    ensure_import_paths()
    path = handler_path(function)
    spec = importlib.util.spec_from_file_location(f"handler_{function.code_uri.name}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    handler: Handler = getattr(module, function.handler.rsplit(".", 1)[1])
    return handler


def local_function(
    template: dict[str, Any], function: tpl.Function, refs: dict[str, str], timeout: float | None = None
) -> LocalFunction:
    """The function, loaded; `timeout` (seconds) replaces the template's Timeout when given."""
    raw_name = tpl.function_property(template, function.logical_id, "FunctionName")
    name = tpl.resolve(raw_name, refs) if raw_name is not None else function.logical_id
    memory = int(tpl.function_property(template, function.logical_id, "MemorySize", 128))
    return LocalFunction(
        function.logical_id,
        function.code_uri.name,
        name,
        memory,
        float(function.timeout) if timeout is None else timeout,
        load_handler(function),
    )


def reset_caches() -> None:
    """Forget what a warm container keeps (settings, clients, pools, cached secrets), as a SnapStart
    restore does."""
    ensure_import_paths()
    from smsgw.snapstart import forget_warm_state  # noqa: PLC0415 - the layer's own list

    forget_warm_state()
