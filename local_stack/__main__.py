"""`make run`: start the whole gateway on loopback until Ctrl-C (or SIGTERM).

Configured by environment variables: ports, API key, callback token, poll interval, real provider URLs
instead of the sandboxes, credentials (all listed in settings.Settings). Once ready, prints the URLs,
the API key, copy-paste curl lines and one machine-readable line `LOCAL_STACK_READY {json}` on stdout.
Everything else (the access log, the handlers' Powertools logs and metrics) goes to stderr.
"""

import json
import shlex
import signal
import sys
import threading
import warnings
from types import FrameType
from typing import TextIO

from .stack import LocalStack

SAMPLE_SEND = {"to": ["+8617072440811"], "content": "Hello from the local SMS gateway"}


def banner(stack: LocalStack) -> str:
    key = shlex.quote(f"x-api-key: {stack.api_key}")
    sandbox = " (sandbox)"
    lines = [
        "SMS gateway local stack is ready",
        f"  API             {stack.api_url}",
        f"  Console         {stack.console_url}",
        f"  API key         {stack.api_key}",
        f"  230sms callback {stack.callback_url}",
        f"  Moto (AWS)      {stack.moto_url}   (AWS_ENDPOINT_URL for boto3 / aws cli)",
        f"  cmessages       {stack.cmessages_url}{sandbox if stack.cmessages else ''}",
        f"  230sms          {stack.sms230_url}{sandbox if stack.sms230 else ''}",
        "",
        "Try:",
        f"  curl -s -X POST -H {key} -H 'Content-Type: application/json' "
        f"-d {shlex.quote(json.dumps(SAMPLE_SEND))} {stack.api_url}/sms/send",
        f"  curl -s -H {key} {stack.api_url}/sms/messages/<message_id>",
        f"  curl -s -H {key} {stack.api_url}/sms/balance",
        "",
        "Ctrl-C stops everything.",
    ]
    return "\n".join(lines) + "\n"


def main(out: TextIO | None = None) -> int:
    out = out or sys.stdout
    # Handlers log to stdout as in Lambda (Powertools reads sys.stdout when the layer is imported):
    # send it to stderr so stdout carries only the banner and the READY line.
    sys.stdout = sys.stderr
    # Powertools warns on every invocation that adds no metric (each one is a Lambda "container").
    warnings.filterwarnings("ignore", "No application metrics to publish", UserWarning)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():  # a second Ctrl-C while stopping: give up at once
            raise SystemExit(130)
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    stack = LocalStack()
    try:
        stack.start()
    except (OSError, ValueError, RuntimeError) as error:
        print(f"local stack failed to start: {error}", file=sys.stderr)
        return 1
    try:
        if not stop.is_set():
            out.write(banner(stack))
            out.write(f"LOCAL_STACK_READY {json.dumps(stack.ready_info())}\n")
            out.flush()
        while not stop.wait(0.5):
            pass
    finally:
        print("stopping the local stack", file=sys.stderr)
        stack.stop()
    print("local stack stopped", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
