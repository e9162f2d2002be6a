"""The gateway with AWS unwell: the local stack with `AWS_FAULTS` (local_stack/aws_faults.py: a share
of every DynamoDB, S3 and SQS call answered with a throttle, a 5xx, unprocessed items or a cancelled
transaction, and Secrets Manager unreachable at each container's first read), then what a user does:

- a 10,000-number send: every number goes to the provider once (none twice), each has an answer;
- 2,000 receipts pushed by 230sms: every message ends `delivered` (none lost, none given up). The
  callback answers 5xx only for a receipt whose write failed past the SDK's five attempts (at a
  10% fault rate about one call in 100,000), which 230sms pushes again; never a crash or a timeout;
- a 20,000-number campaign: every number sent exactly once (none lost, none twice), counts add up;
- 200 verification checks: each answers (no 5xx); each right code approved, each wrong one spends
  exactly one attempt.

Figures are counted from the sandboxes' own records and the API's answers, never timed.
"""

import json
import re
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import urllib3

from tests.e2e.client import RunningStack, start_stack, stop_stack

FAULTS = "dynamodb=0.1,s3=0.1,sqs=0.1,secretsmanager=cold"
SEND_PATHS = {"/outauth/send", "/outauth/verifCodeSend", "/sms/send_message", "/sms/send_verify"}


@dataclass
class FaultRun:
    faults: str
    send_numbers: int = 0
    send_status: int = 0
    send_answered: int = 0  # numbers with a status in the answer
    send_double: int = 0  # numbers the providers got more than once
    receipts: int = 0
    receipts_lost: int = 0  # messages not delivered once every push was answered
    receipts_given_up: int = 0  # receipts 230sms stopped pushing after its three retries
    receipts_seconds: float = 0.0  # from the send to the last push answered
    callback_5xx: int = 0
    callback_not_stored: int = 0  # 503s the callback chose: a write failed past the SDK's retries
    callback_causes: dict[str, int] = field(default_factory=dict)  # what each 5xx was, from the log
    campaign_numbers: int = 0
    campaign_state: str = ""
    campaign_lost: int = 0  # numbers the providers never got
    campaign_double: int = 0
    checks: int = 0
    checks_5xx: int = 0
    checks_wrong: int = 0  # answers other than the one expected
    api_5xx: int = 0
    injected: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _mobiles(stack: RunningStack, provider: str, paths: set[str]) -> Counter[str]:
    """How many times the provider was asked to send to each number (its accepted requests)."""
    seen: Counter[str] = Counter()
    for request in stack.sandbox(provider, "GET", "/_sandbox/requests"):
        answer = request["answer"] if isinstance(request["answer"], dict) else {}
        if request["path"] not in paths or str(answer.get("status", "")) not in {"000", ""}:
            continue
        if request["status"] != 200:
            continue
        mobiles = request["body"]["mobile"]
        seen.update(mobiles.split(",") if isinstance(mobiles, str) else mobiles)
    return seen


def _numbers(count: int, start: int) -> list[str]:
    return [f"+86{start + i}" for i in range(count)]


def run(
    send: int = 10_000,
    receipts: int = 2_000,
    campaign: int = 20_000,
    checks: int = 200,
    keep_log: Path | None = None,
) -> FaultRun:
    env = {
        "AWS_FAULTS": FAULTS,
        "API_KEY_RECIPIENTS_PER_MINUTE": "1000000",
        "API_KEY_RECIPIENTS_PER_DAY": "10000000",
        "POLL_INTERVAL_SECONDS": "2",
        "OTP_IP_PER_HOUR": "1000",  # every check comes from 127.0.0.1
        "SMS230_RECEIPT_INTERVALS": "0.5,1,2",  # 230sms's three retries of a refused receipt, sooner
    }
    result = FaultRun(FAULTS)
    with tempfile.TemporaryDirectory(prefix="bench-faults-") as folder:
        log = Path(folder) / "stderr.log"
        process, info = start_stack(env, log)
        stack = RunningStack(info, process, log, urllib3.PoolManager(maxsize=8))
        try:
            stack.sandbox("sms230", "POST", "/_sandbox/settings", {"receipt_delay": 3600})
            _send(stack, result, send)
            _receipts(stack, result, receipts)
            _campaign(stack, result, campaign)
            _checks(stack, result, checks)
        finally:
            stack.http.clear()
            stop_stack(process, log)
        text = log.read_text(errors="replace")
    if keep_log is not None:
        keep_log.write_text(text)
    result.callback_5xx = len(re.findall(r"^POST /callbacks/\{provider\}/\{token\} 5\d\d ", text, re.M))
    result.callback_causes = _callback_causes(text)
    result.callback_not_stored = sum(
        n for c, n in result.callback_causes.items() if c.startswith("not stored")
    )
    result.api_5xx = len(re.findall(r"^[A-Z]+ /\S* 5\d\d \d+$", text, re.M))
    for line in re.findall(r"^aws faults injected: (\{.*\})$", text, re.M):
        for name, count in json.loads(line).items():
            result.injected[name] = result.injected.get(name, 0) + count
    return result


def _callback_causes(text: str) -> dict[str, int]:
    """Why the callback answered 5xx: a receipt it could not store (the handler's log line, with the
    error past the SDK's retries), or the function failing or timing out (the local stack's line)."""
    causes: Counter[str] = Counter()
    for line in text.splitlines():
        if '"receipt could not be stored"' in line:
            try:
                record = json.loads(line)
            except ValueError:
                record = {}
            error = str(record.get("exception", "")).strip().splitlines() or ["?"]
            causes[f"not stored: {error[-1][:160]}"] += 1
        elif line.startswith("CallbackFunction") and ("answered 504" in line or "failed:" in line):
            causes[line[:160]] += 1
    return dict(causes)


def _send(stack: RunningStack, result: FaultRun, n: int) -> None:
    numbers = _numbers(n, 13000000000)
    answer = stack.api("POST", "/sms/send", {"to": numbers, "content": "faults", "provider": "230sms"})
    result.send_numbers, result.send_status = n, answer.status
    if answer.status == 200:
        result.send_answered = len({m["to"] for m in answer.json()["messages"]})
    result.send_double = sum(
        1 for count in _mobiles(stack, "sms230", {"/outauth/send"}).values() if count > 1
    )


def _receipts(stack: RunningStack, result: FaultRun, n: int) -> None:
    """A send of `n` numbers whose receipts 230sms pushes at once (16 at a time), each refused one
    pushed again up to three times; then every message's status."""
    before = stack.sandbox("sms230", "GET", "/_sandbox/state")["receipts"]
    stack.sandbox("sms230", "POST", "/_sandbox/settings", {"receipt_delay": 0.1})
    answer = stack.api(
        "POST", "/sms/send", {"to": _numbers(n, 13100000000), "content": "r", "provider": "230sms"}
    )
    result.receipts = n
    if answer.status != 200:
        result.receipts_lost = n
        return
    started = time.monotonic()

    def pushed() -> bool:
        state = stack.sandbox("sms230", "GET", "/_sandbox/state")["receipts"]
        done = state["delivered"] - before["delivered"] + state["failed"] - before["failed"]
        return bool(done >= n)

    stack.wait_for("every receipt pushed", pushed, timeout=600, every=1)
    result.receipts_seconds = round(time.monotonic() - started, 1)
    ids = [m["message_id"] for m in answer.json()["messages"]]
    with ThreadPoolExecutor(4) as pool:
        statuses = list(pool.map(lambda i: stack.api("GET", f"/sms/messages/{i}").json().get("status"), ids))
    result.receipts_lost = sum(1 for s in statuses if s != "delivered")
    result.receipts_given_up = (
        stack.sandbox("sms230", "GET", "/_sandbox/state")["receipts"]["failed"] - before["failed"]
    )
    stack.sandbox("sms230", "POST", "/_sandbox/settings", {"receipt_delay": 3600})


def _campaign(stack: RunningStack, result: FaultRun, n: int) -> None:
    before = _mobiles(stack, "sms230", {"/outauth/send"})
    numbers = _numbers(n, 13200000000)
    draft = stack.api(
        "POST", "/sms/campaigns", {"content": "c", "kind": "notification", "provider": "230sms"}
    )
    stack.request(
        "PUT", draft.json()["upload_url"], "\n".join(numbers) + "\n", {"Content-Type": "text/plain"}
    )
    campaign_id = draft.json()["campaign_id"]
    stack.api("POST", f"/sms/campaigns/{campaign_id}/start")
    deadline = time.monotonic() + 300
    state = ""
    while time.monotonic() < deadline:
        state = stack.api("GET", f"/sms/campaigns/{campaign_id}").json().get("state", "")
        if state in {"done", "cancelled"}:
            break
        time.sleep(1)
    result.campaign_numbers, result.campaign_state = n, state
    sent = _mobiles(stack, "sms230", {"/outauth/send"}) - before
    wire = {number.removeprefix("+") for number in numbers}
    result.campaign_lost = sum(1 for number in wire if sent[number] == 0)
    result.campaign_double = sum(1 for number in wire if sent[number] > 1)


def _checks(stack: RunningStack, result: FaultRun, n: int) -> None:
    """n / 5 codes, each checked four times wrong and once right (five checks a code at most)."""
    people = [f"+86139{i:04d}0000" for i in range(n // 5)]  # each in a range of its own
    expected: list[tuple[str, str, str]] = []
    for number in people:
        answer = stack.api("POST", "/sms/verify-code", {"to": number, "content": "code {code}"})
        if answer.status != 200:
            result.checks_wrong += 5
            continue
        code = next(
            re.search(r"\d{6}", r["body"]["content"]).group()  # type: ignore[union-attr]
            for r in reversed(stack.sandbox("sms230", "GET", "/_sandbox/requests"))
            if r["path"] == "/outauth/verifCodeSend" and r["body"]["mobile"] == number.removeprefix("+")
        )
        wrong = "000000" if code != "000000" else "111111"
        expected += [(number, wrong, "pending")] * 4 + [(number, code, "approved")]
    for number, code, status in expected:
        answer = stack.api("POST", "/sms/verify-code/check", {"to": number, "code": code})
        result.checks += 1
        if answer.status >= 500:
            result.checks_5xx += 1
        elif answer.status != 200 or answer.json().get("status") != status:
            result.checks_wrong += 1
