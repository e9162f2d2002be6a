"""Run both sandboxes until Ctrl-C.

    python -m sandboxes --cmessages-port 8001 --sms230-port 8002 --callback-url URL \
        [--receipt-intervals 5,15,30]
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from .cmessages import CMessagesSandbox
from .sms230 import Sms230Sandbox


def _intervals(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError("expected comma-separated seconds, e.g. 5,15,30") from exc
    if any(v < 0 for v in values):
        raise argparse.ArgumentTypeError("intervals must be >= 0")
    return values


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandboxes", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--cmessages-port", type=int, default=8001)
    parser.add_argument("--sms230-port", type=int, default=8002)
    parser.add_argument("--callback-url", default=None, help="where 230sms receipts are pushed")
    parser.add_argument(
        "--receipt-intervals",
        type=_intervals,
        default=(300.0, 900.0, 1800.0),
        help="seconds between receipt retries (the document: 5, 15, 30 minutes)",
    )
    args = parser.parse_args(argv)

    cmessages = CMessagesSandbox(host=args.host, port=args.cmessages_port)
    sms230 = Sms230Sandbox(
        host=args.host,
        port=args.sms230_port,
        callback_url=args.callback_url,
        receipt_intervals=args.receipt_intervals,
    )
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    with cmessages, sms230:
        # Sandbox credentials, not secrets: printing them is the point.
        print(f"cmessages  {cmessages.url}  app_id={cmessages.app_id} app_key={cmessages.app_key}")
        print(f"230sms     {sms230.url}  apikey={sms230.apikey} apisecret={sms230.apisecret}")
        print(f"230sms receipts -> {sms230.callback_url or '(no callback url)'}")
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
    print("sandboxes stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
