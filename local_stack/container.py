"""One Lambda execution environment, as a child process of the local stack
(`python -m local_stack.container CODE_URI HANDLER REPLY_FD`, started by lambdas.Container).

The stack starts it with exactly the function's environment (its template variables and what Lambda
itself sets), so every module the handler imports reads that environment and nothing else, and keeps
its own state (settings, clients, caches, Powertools' metric set), as a Lambda container does. It
loads the handler once (the init phase), says `{"ready": true}` on REPLY_FD, then takes one event a
line on stdin and answers each on REPLY_FD: `{"result": ...}` or `{"error": "<traceback>"}`. It ends
when stdin closes; a deadline it runs past is the stack's to enforce (it kills the process, as Lambda
ends a timed-out environment). Handlers log to stdout, as in Lambda: the stack's stderr.

Besides the standard library it imports only the fault switch (botocore, which every handler
imports anyway): what it costs at a cold start is the handler's own.
"""

import importlib.util
import json
import os
import signal
import sys
import time
import traceback
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from .aws_faults import in_this_process

Handler = Callable[[dict[str, Any], Any], Any]

LAYER = Path(__file__).resolve().parents[1] / "layers" / "smsgw"  # mounted at /opt/python in Lambda


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


def context_from_environment(env: dict[str, str] | os._Environ[str] = os.environ) -> LambdaContext:
    """The invocation's context, from the variables Lambda sets for the function."""
    name = env.get("AWS_LAMBDA_FUNCTION_NAME", "local")
    region = env.get("AWS_REGION", "us-east-1")
    account = env.get("AWS_ACCOUNT_ID", "123456789012")
    return LambdaContext(
        function_name=name,
        memory_limit_in_mb=int(env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")),
        invoked_function_arn=f"arn:aws:lambda:{region}:{account}:function:{name}",
        function_version=env.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        log_group_name=env.get("AWS_LAMBDA_LOG_GROUP_NAME", f"/aws/lambda/{name}"),
        log_stream_name=env.get("AWS_LAMBDA_LOG_STREAM_NAME", "local"),
        timeout_seconds=float(env.get("AWS_LAMBDA_FUNCTION_TIMEOUT", "3")),
    )


def load_handler(code_uri: Path, handler: str) -> Handler:
    """`module.function` from the function's folder, under a distinct module name: every function's
    module is called `app`, and the test suite loads several in one process."""
    if str(LAYER) not in sys.path:
        sys.path.insert(0, str(LAYER))
    module_name, function_name = handler.rsplit(".", 1)
    path = code_uri / f"{module_name.replace('.', '/')}.py"
    spec = importlib.util.spec_from_file_location(f"handler_{code_uri.name}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    loaded: Handler = getattr(module, function_name)
    return loaded


def _answer(replies: TextIO, payload: dict[str, Any]) -> None:
    replies.write(json.dumps(payload) + "\n")
    replies.flush()


def serve(handler: Handler, requests: TextIO, replies: TextIO) -> None:
    """One invocation a line until `requests` closes."""
    for line in requests:
        event = json.loads(line)
        try:
            payload = {"result": handler(event, context_from_environment())}
            text = json.dumps(payload)  # Lambda serialises the result: an unserialisable one fails
        except Exception:
            text = json.dumps({"error": traceback.format_exc().rstrip()})
        replies.write(text + "\n")
        replies.flush()


def main() -> int:
    # Ctrl-C reaches the whole process group: the stack stops its containers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Powertools warns at every invocation that adds no metric: noise, one line a request.
    warnings.filterwarnings("ignore", "No application metrics to publish", UserWarning)
    code_uri, handler_name, reply_fd = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    faults = sys.argv[4] if len(sys.argv) > 4 else ""
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]  # a log line as it is written
    replies = os.fdopen(reply_fd, "w", encoding="utf-8")
    with in_this_process(faults):  # the stack's AWS_FAULTS: AWS unwell at the SDK's boundary
        try:
            handler = load_handler(code_uri, handler_name)
        except Exception:
            _answer(replies, {"init_error": traceback.format_exc().rstrip()})
            return 1
        _answer(replies, {"ready": True})
        serve(handler, sys.stdin, replies)
    return 0


if __name__ == "__main__":
    sys.exit(main())
