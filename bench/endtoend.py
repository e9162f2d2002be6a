"""10,000 recipients through the local stack end to end: HTTP in (the local API Gateway), the send
Lambda in its worker, Moto in its own process, the sandboxes holding every provider request 50 ms,
the answer out. The wall time is the client's, from the request to the last byte of the answer."""

import statistics
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import urllib3

from tests.e2e.client import RunningStack, start_stack, stop_stack

from .stack import cn_numbers

HOLD_S = 0.05
MINIMA = {  # requests k at the documented rate, or at the client's concurrency (see bench.bulk)
    "230sms": lambda k: (k - 1) / 100 + HOLD_S,
    "cmessages": lambda k: -(-k // 8) * HOLD_S,
}
CAPS = {"230sms": 1000, "cmessages": 100}


@dataclass
class EndToEnd:
    provider: str
    n: int
    walls_s: list[float]
    statuses: list[int]
    answer_bytes: int
    submitted: int

    @property
    def median_s(self) -> float:
        return statistics.median(self.walls_s)

    @property
    def minimum_s(self) -> float:
        return MINIMA[self.provider](-(-self.n // CAPS[self.provider]))

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "median_s": self.median_s, "minimum_s": self.minimum_s}


def run(n: int = 10_000, runs: int = 3) -> list[EndToEnd]:
    env = {
        "API_KEY_RECIPIENTS_PER_MINUTE": str(10 * n * runs),
        "API_KEY_RECIPIENTS_PER_DAY": str(100 * n * runs),
        "CMESSAGES_STATUS_DELAYS": "3600,3600",
    }
    with tempfile.TemporaryDirectory(prefix="bench-stack-") as folder:
        log = Path(folder) / "stderr.log"
        process, info = start_stack(env, log)
        stack = RunningStack(info, process, log, urllib3.PoolManager(maxsize=4))
        try:
            for provider in ("cmessages", "sms230"):
                stack.sandbox(provider, "POST", "/_sandbox/faults", {"kind": "delay", "seconds": HOLD_S})
            stack.sandbox("cmessages", "POST", "/_sandbox/settings", {"balance": 10**9})
            # Receipts after the runs: on AWS they go to another function's containers, here they
            # would share the send's process and its GIL.
            stack.sandbox("sms230", "POST", "/_sandbox/settings", {"receipt_delay": 3600})
            stack.api("POST", "/sms/send", {"to": cn_numbers(2), "content": "warm-up"})
            results = []
            for provider in ("230sms", "cmessages"):
                result = EndToEnd(provider, n, [], [], 0, 0)
                for attempt in range(runs):
                    body = {
                        "to": cn_numbers(n, start=13000000000 + attempt * n),
                        "content": "hi",
                        "provider": provider,
                    }
                    start = time.perf_counter()
                    answer = stack.api("POST", "/sms/send", body)
                    result.walls_s.append(time.perf_counter() - start)
                    result.statuses.append(answer.status)
                    result.answer_bytes = len(answer.text.encode())
                    result.submitted = int(answer.json().get("summary", {}).get("submitted", 0))
                results.append(result)
            return results
        finally:
            stack.http.clear()
            stop_stack(process, log)
