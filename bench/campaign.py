"""A campaign of a million recipients through the local stack: the list uploaded to Moto's S3 with the
API's presigned URL, started over HTTP, planned and sent by the stack's SQS pollers (the template's
batch size and maximum concurrency), the 230sms sandbox holding every request 50 ms and allowing
its documented 100 requests a second. The providers' sandboxes run in a process of their own
(`python -m sandboxes`), as a provider is another machine: in the stack's process their HTTP
serving would share one interpreter lock with the senders whose arrivals they count. The wall
time runs from `start` to the campaign reading `done`; the sandbox's own log says what reached it:
how many requests, how many times each number, the most requests in any one second, and any 105
(a request the sandbox made no task of). A number in a request refused with 105 and sent again
would count twice: the row says how many 105s there were."""

import contextlib
import re
import subprocess  # nosec B404 - starts the project's own sandboxes
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import urllib3

from tests.e2e.client import RunningStack, start_stack, stop_stack

from . import ROOT

HOLD_S = 0.05
CAP = 1000  # 230sms numbers per request
RATE = 100  # 230sms requests per second, documented


@dataclass
class CampaignRun:
    n: int
    wall_s: float  # start -> done
    planned_s: float  # start -> every chunk enqueued
    state: str
    counts: dict[str, int]
    provider_requests: int
    sandbox_requests: int
    numbers_sent: int
    numbers_sent_twice: int
    max_requests_in_a_second: int
    answered_105: int
    upload_bytes: int

    @property
    def minimum_s(self) -> float:
        return -(-self.n // CAP) / RATE

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "minimum_s": self.minimum_s}


def _max_in_a_second(times: list[float]) -> int:
    """The most arrivals in any window of one second (two pointers over sorted times)."""
    times = sorted(times)
    best, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


@contextlib.contextmanager
def providers_apart() -> Iterator[dict[str, str]]:
    """Both sandboxes in a process of their own, on free ports: the stack's provider base URLs."""
    process = subprocess.Popen(  # nosec B603 - our own module, no shell
        [sys.executable, "-m", "sandboxes", "--cmessages-port", "0", "--sms230-port", "0"],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        urls = {}
        for name, variable in (("cmessages", "CMESSAGES_BASE_URL"), ("230sms", "SMS230_BASE_URL")):
            line = process.stdout.readline() if process.stdout else ""
            found = re.match(rf"{name}\s+(http://\S+)", line)
            if found is None:
                raise RuntimeError(f"sandboxes did not start: {line!r}")
            urls[variable] = found.group(1)
        yield urls
    finally:
        process.terminate()
        process.wait(10)


def run(n: int = 1_000_000, timeout_s: float = 600.0) -> CampaignRun:
    with providers_apart() as urls:
        return _run(n, timeout_s, urls)


def _run(n: int, timeout_s: float, provider_urls: dict[str, str]) -> CampaignRun:
    env = {
        **provider_urls,
        "SMS230_RECEIPT_INTERVALS": "3600",  # receipts later: the sending alone is measured
    }
    with tempfile.TemporaryDirectory(prefix="bench-campaign-") as folder:
        log = Path(folder) / "stderr.log"
        process, info = start_stack(env, log)
        stack = RunningStack(info, process, log, urllib3.PoolManager(maxsize=4))
        try:
            stack.sandbox("sms230", "POST", "/_sandbox/faults", {"kind": "delay", "seconds": HOLD_S})
            # No receipts: they are not what is measured, and a million of them would be pushed
            # by the sandbox inside the stack's own process.
            stack.sandbox("sms230", "POST", "/_sandbox/callback", {"url": None})
            draft = stack.api(
                "POST", "/sms/campaigns", {"content": "sale", "kind": "notification", "provider": "230sms"}
            )
            if draft.status != 201:
                raise RuntimeError(f"campaign not created: {draft.status} {draft.text[:300]}")
            campaign_id = draft.json()["campaign_id"]
            listing = "\n".join(str(13_000_000_000 + i) for i in range(n)).encode()
            put = stack.request(
                "PUT", draft.json()["upload_url"], listing, {"Content-Type": "text/plain"}, timeout=120
            )
            if put.status != 200:
                raise RuntimeError(f"upload refused: {put.status} {put.text[:300]}")
            started = time.perf_counter()
            answer = stack.api("POST", f"/sms/campaigns/{campaign_id}/start")
            if answer.status != 202:
                raise RuntimeError(f"campaign not started: {answer.status} {answer.text[:300]}")
            planned_s = 0.0
            seen: dict[str, Any] = {}
            while time.perf_counter() - started < timeout_s:
                seen = stack.api("GET", f"/sms/campaigns/{campaign_id}").json()
                if not planned_s and seen.get("chunks", {}).get("total"):
                    planned_s = time.perf_counter() - started
                if seen["state"] in ("done", "cancelled"):
                    break
                time.sleep(0.25)
            wall = time.perf_counter() - started
            requests = [
                r
                for r in stack.sandbox("sms230", "GET", "/_sandbox/requests")
                if r["path"] == "/outauth/send"
            ]
            times = Counter(number for r in requests for number in r["body"]["mobile"].split(","))
            state = stack.sandbox("sms230", "GET", "/_sandbox/state")
            return CampaignRun(
                n=n,
                wall_s=wall,
                planned_s=planned_s,
                state=str(seen.get("state")),
                counts=dict(seen.get("counts", {})),
                provider_requests=int(seen.get("provider_requests", 0)),
                sandbox_requests=len(requests),
                numbers_sent=len(times),
                numbers_sent_twice=sum(1 for c in times.values() if c > 1),
                max_requests_in_a_second=_max_in_a_second([float(r["at"]) for r in requests]),
                # Every send request the sandbox did not make a task of was refused: here, only 105.
                answered_105=len(requests) - int(state["tasks"]),
                upload_bytes=len(listing),
            )
        finally:
            stack.http.clear()
            stop_stack(process, log)
