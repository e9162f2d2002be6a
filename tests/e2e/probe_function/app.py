"""A function for testing the local stack's execution environments: it does what its event says."""

import os
import time
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
    if action == "environment":
        return dict(os.environ)
    if action == "raise":
        raise KeyError("boom")
    if action == "exit":
        os._exit(3)
    return {"pid": os.getpid(), "loaded_at": LOADED_AT, "function_name": context.function_name}
