"""Each invocation's own Powertools logging keys, as each Lambda container has its own Logger.

In Lambda every function runs in containers of its own, so the keys its Logger holds (function_name,
function_request_id, correlation_id … set by `inject_lambda_context`, or added by `append_keys`) label
that function's lines only. Here one process holds every function and the layer's one Logger, whose
formatter keeps those keys in one dict (`LambdaPowertoolsFormatter.log_format`): two functions running
at once would label each other's lines. So the keys are made per invocation: an invocation's thread,
and every thread it starts (its ThreadPoolExecutor workers), read and write a copy of their own, made
from the formatter's keys at its first use. Anything else (a module's import, the stack's own threads)
uses the formatter's keys as before; outside the local stack nothing changes.
"""

import threading
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

# On a Thread: the keys of the invocation it runs for, {id(formatter): that formatter's log_format}.
ATTRIBUTE = "_local_stack_log_keys"

InvocationKeys = dict[int, dict[str, Any]]

_install_lock = threading.Lock()
_installed = False
_thread_start = threading.Thread.start


def _current() -> InvocationKeys | None:
    keys: InvocationKeys | None = getattr(threading.current_thread(), ATTRIBUTE, None)
    return keys


def _get_log_format(formatter: LambdaPowertoolsFormatter) -> dict[str, Any]:
    shared: dict[str, Any] = formatter.__dict__["log_format"]
    keys = _current()
    if keys is None:
        return shared
    own = keys.get(id(formatter))
    if own is None:  # the invocation's first use: its copy (one, though its threads race to it)
        own = keys.setdefault(id(formatter), dict(shared))
    return own


def _set_log_format(formatter: LambdaPowertoolsFormatter, value: dict[str, Any]) -> None:
    keys = _current()
    if keys is None or "log_format" not in formatter.__dict__:  # outside an invocation, or __init__
        formatter.__dict__["log_format"] = value
    else:
        keys[id(formatter)] = value


def _start(thread: threading.Thread) -> None:
    """Thread.start, the new thread inheriting the starting invocation's keys (as Lambda's threads
    share their container's Logger)."""
    keys = _current()
    if keys is not None and getattr(thread, ATTRIBUTE, None) is None:
        setattr(thread, ATTRIBUTE, keys)
    _thread_start(thread)


def install() -> None:
    """Make the formatters' keys per invocation (once per process; nothing changes outside one)."""
    global _installed  # noqa: PLW0603 - one switch per process
    with _install_lock:
        if _installed:
            return
        # A data descriptor on the class wins over the instance's own attribute.
        LambdaPowertoolsFormatter.log_format = property(_get_log_format, _set_log_format)  # type: ignore[assignment]
        threading.Thread.start = _start  # type: ignore[method-assign,assignment]
        _installed = True


def invocation_thread(target: Callable[[], None], name: str) -> threading.Thread:
    """A daemon thread (not started) for one invocation, with logging keys of its own."""
    install()
    thread = threading.Thread(target=target, name=name, daemon=True)
    fresh: InvocationKeys = {}
    setattr(thread, ATTRIBUTE, fresh)
    return thread
