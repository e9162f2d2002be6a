"""The local console against a bulk send: from the API's answer to a 1,500-recipient send until the
console's inbox shows the send's first page (its 50 rows, each with the gateway's status), asked
for as the page asks (its live fragment) every 50 ms. Per provider, median of three sends."""

import re
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import urllib3

from tests.e2e.client import RunningStack, start_stack, stop_stack

N = 1500
PAGE_ROWS = 50
TIMEOUT_S = 30.0


@dataclass
class ConsoleRun:
    provider: str
    n: int
    shown_after_s: list[float]
    page_bytes: int

    @property
    def median_s(self) -> float:
        return statistics.median(self.shown_after_s)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "median_s": self.median_s}


def _first_page_shown(stack: RunningStack, content: str) -> tuple[float, int]:
    """Seconds until the inbox fragment lists PAGE_ROWS rows of `content`, every one recorded."""
    started = time.perf_counter()
    while time.perf_counter() - started < TIMEOUT_S:
        page = stack.http.request("GET", stack.info["console_url"] + "?fragment=1").data.decode()
        if len(re.findall(re.escape(content), page)) == PAGE_ROWS and "not recorded" not in page:
            return time.perf_counter() - started, len(page.encode())
        time.sleep(0.05)
    raise RuntimeError(f"the console did not show {content!r} within {TIMEOUT_S:.0f} s")


def run(runs: int = 3) -> list[ConsoleRun]:
    with tempfile.TemporaryDirectory(prefix="bench-console-") as folder:
        log = Path(folder) / "stderr.log"
        process, info = start_stack({}, log)
        stack = RunningStack(info, process, log, urllib3.PoolManager(maxsize=4))
        try:
            results = []
            for provider in ("cmessages", "230sms"):
                result = ConsoleRun(provider, N, [], 0)
                for attempt in range(runs):
                    content = f"console bench {provider} {attempt}"
                    numbers = [f"+86137{attempt}{n:07d}" for n in range(N)]
                    answer = stack.api(
                        "POST", "/sms/send", {"to": numbers, "content": content, "provider": provider}
                    )
                    if answer.status not in (200, 202):
                        raise RuntimeError(f"send refused: {answer.status} {answer.text[:300]}")
                    seconds, result.page_bytes = _first_page_shown(stack, content)
                    result.shown_after_s.append(seconds)
                results.append(result)
            return results
        finally:
            stack.http.clear()
            stop_stack(process, log)
