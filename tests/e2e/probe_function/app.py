"""A function for testing the local stack's execution environments: it does what its event says."""

import os
import time
from pathlib import Path
from typing import Any

LOADED_AT = time.time()  # module state: the same for every invocation of one container


def lambda_handler(event: dict[str, Any], context: Any) -> Any:
    action = event.get("action")
    if action == "remaining":
        first = context.get_remaining_time_in_millis()
        time.sleep(0.2)
        return [first, context.get_remaining_time_in_millis()]
    if action == "sleep":
        time.sleep(float(event["seconds"]))
        return "slept"
    if action == "wait_for":  # until the test creates the file (a gate between processes)
        gate = Path(event["path"])
        deadline = time.monotonic() + 20
        while not gate.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        return os.getpid()
    if action == "environment":
        return dict(os.environ)
    if action == "raise":
        raise KeyError("boom")
    if action == "exit":
        os._exit(3)
    return {"pid": os.getpid(), "loaded_at": LOADED_AT, "function_name": context.function_name}
