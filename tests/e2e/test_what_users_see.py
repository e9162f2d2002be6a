"""`make run` from a plain shell, as a new user starts it, answers every call of its banner and more
(each one 2xx, whatever ran first), and each function in it sees exactly the environment
template.yaml gives it: nothing of the stack's process, nothing of the test process."""

import json
import os
import re
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from local_stack import resources
from local_stack import template as tpl
from tests.e2e.client import ROOT, RunningStack, running_stack, user_environment

pytestmark = pytest.mark.e2e

# What Lambda itself sets in a function's environment (as `sam local` does), beside the template's
# variables, and the local AWS account (Moto's endpoint and credentials).
RUNTIME = {
    "AWS_SAM_LOCAL",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_TIMEOUT",
    "AWS_LAMBDA_FUNCTION_HANDLER",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_ACCOUNT_ID",
    "AWS_ENDPOINT_URL",
    "PATH",
    "LANG",
    "TZ",
}
CONTAINERS = re.compile(r"-m\0local_stack\.(?:container\0(?P<code>[^\0]+)|queue_container\0(?P<id>[^\0]+))")


@pytest.fixture(scope="module")
def fresh() -> Iterator[RunningStack]:
    """A new stack whose poller does not run before the first call (its first tick is an hour away)."""
    os.environ["SET_BY_THE_TEST_PROCESS"] = "must not reach the stack"
    try:
        with running_stack({"POLL_INTERVAL_SECONDS": "3600"}) as running:
            yield running
    finally:
        del os.environ["SET_BY_THE_TEST_PROCESS"]


def test_it_says_ready_only_once_every_sqs_environment_has_finished_its_init(fresh: RunningStack) -> None:
    """Read at ready (the first test of the module): an SQS environment still importing would take
    the CPU from the first requests (a 10,000-number send took 0.7 s instead of 0.2 s)."""
    reports = re.findall(r"^INIT_REPORT (\S+) Init Duration: [0-9.]+ ms$", fresh.log(), re.MULTILINE)
    pollers = [
        found["id"]
        for pid in _descendants(fresh.process.pid)
        if (found := CONTAINERS.search(_cmdline(pid))) and found["id"]
    ]
    assert pollers and sorted(reports) == sorted(pollers)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text()
    except OSError:
        return ""


def test_every_call_of_a_new_users_first_minutes_answers_2xx(fresh: RunningStack) -> None:
    # The order in which they answered 502 when functions shared one process: balance first.
    balance = fresh.api("GET", "/sms/balance")
    assert balance.status == 200, balance.text
    code = fresh.api("POST", "/sms/verify-code", {"to": "+8617072440811", "content": "Your code is {code}"})
    assert code.status == 200, code.text
    check = fresh.api("POST", "/sms/verify-code/check", {"to": "+8617072440811", "code": "000000"})
    assert check.status == 200, check.text
    assert check.json()["status"] in {"pending", "max_attempts_reached"}
    plain = fresh.api("POST", "/sms/verify-code", {"to": "+8617072440812", "content": "Your code is 4821"})
    assert plain.status == 200, plain.text
    sent = fresh.api(
        "POST", "/sms/send", {"to": ["+8617072440813"], "content": "Hello", "provider": "230sms"}
    )
    assert sent.status == 200, sent.text
    campaign = fresh.api(
        "POST", "/sms/campaigns", {"to": ["+8617072440814"], "content": "News", "kind": "notification"}
    )
    assert campaign.status in {201, 202}, campaign.text
    # The 230sms sandbox pushes each message's receipt to the callback: each is taken.
    for message_id in (code.json()["message_id"], sent.json()["messages"][0]["message_id"]):
        fresh.wait_for(
            f"{message_id} delivered", lambda m=message_id: fresh.status_of(m)["status"] == "delivered"
        )
    log = fresh.log()
    assert "/callbacks/{provider}/{token} 200" in log
    assert not re.search(r" 5\d\d \d+$", log, re.MULTILINE), "a 5xx in the access log"
    assert "SchemaValidationError" not in log
    assert '"service":"service_undefined"' not in log.replace(" ", "")


def _descendants(root: int) -> list[int]:
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        children = [child for child, parent in parents.items() if parent == pid]
        found += children
        todo += children
    return found


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.split("=", 1) for item in raw.decode().split("\0") if "=" in item)


def test_each_function_sees_exactly_its_template_environment(fresh: RunningStack) -> None:
    template = tpl.load()
    refs = resources.references(template, *resources.local_names(template))
    refs.update(CmessagesBaseUrl=fresh.info["cmessages_url"], Sms230BaseUrl=fresh.info["sms230_url"])
    refs.update(WebhookAllowLoopback="true")  # the local stack's parameter: a receiver on this machine
    functions = tpl.functions(template)
    by_code = {str(f.code_uri): f.logical_id for f in functions.values()}
    seen: dict[str, dict[str, str]] = {}
    for pid in _descendants(fresh.process.pid):
        try:
            found = CONTAINERS.search(Path(f"/proc/{pid}/cmdline").read_text())
            env = _environ(pid)
        except OSError:
            continue
        if found:
            seen[found["id"] or by_code[found["code"].rstrip("/")]] = env
    assert set(seen) == set(functions)  # every function of the template runs in a container
    for logical_id, env in seen.items():
        declared = tpl.environment(functions[logical_id], refs)
        assert {name: env.get(name) for name in declared} == declared, logical_id
        assert set(env) - set(declared) == RUNTIME, logical_id
        assert env["AWS_ENDPOINT_URL"] == fresh.info["moto_url"]
        assert env["TZ"] == ":UTC"  # Lambda's, as the plain shell names no zone


# Each sample event's function (events/*.json, as `sam local generate-event` made them).
EVENT_FUNCTIONS = {
    "balance": "balance",
    "callback": "callback",
    "campaign_cancel": "campaigns",
    "campaign_chunk": "campaign_sender",
    "campaign_create": "campaigns",
    "campaign_plan": "campaign_planner",
    "campaign_progress": "campaign_progress",
    "campaign_start": "campaigns",
    "campaign_status": "campaigns",
    "campaign_upload": "campaigns",
    "message_status": "message_status",
    "poll_status": "poll_status",
    "send": "send",
    "send_cmessages": "send",
    "send_invalid": "send",
    "verify_check": "verify_check",
    "verify_code": "verify_code",
}


def make_invoke(stack: RunningStack, function: str, event: str) -> subprocess.CompletedProcess[str]:
    """`make invoke` from a plain shell, with the one variable that finds this stack's env file."""
    return subprocess.run(
        ["make", "--no-print-directory", "invoke", f"FUNCTION={function}", f"EVENT={event}"],  # noqa: S607
        cwd=ROOT,
        env=user_environment({"LOCAL_STACK_ENV_FILE": str(stack.env_file)}),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_make_invoke_runs_every_function_with_its_sample_event_against_the_stack(fresh: RunningStack) -> None:
    assert {path.stem for path in (ROOT / "events").glob("*.json")} == set(EVENT_FUNCTIONS)
    with ThreadPoolExecutor(3) as pool:
        runs = dict(
            zip(
                EVENT_FUNCTIONS,
                pool.map(
                    lambda item: make_invoke(fresh, item[1], f"events/{item[0]}.json"),
                    EVENT_FUNCTIONS.items(),
                ),
                strict=True,
            )
        )
    for event, done in runs.items():
        assert done.returncode == 0, f"{event}: {done.stderr[-2000:]}"
        # make echoes its recipe line first; the function's result follows.
        result = json.loads(
            "\n".join(line for line in done.stdout.splitlines() if not line.startswith(".venv"))
        )
        if isinstance(result, dict) and "statusCode" in result:
            assert result["statusCode"] < 500, f"{event}: {result}"
        if event == "balance":
            balances = {b["provider"]: b for b in json.loads(result["body"])["balances"]}
            assert isinstance(balances["cmessages"]["balance"], int | float)


def test_make_invoke_without_a_running_stack_says_so_in_one_line(tmp_path: Path) -> None:
    done = subprocess.run(
        ["make", "--no-print-directory", "invoke", "FUNCTION=balance", "EVENT=events/balance.json"],  # noqa: S607
        cwd=ROOT,
        env=user_environment({"LOCAL_STACK_ENV_FILE": str(tmp_path / "env.json")}),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if not line.startswith("make")]
    assert lines == [
        f"no local stack is running ({tmp_path / 'env.json'} not found): start one with `make run`"
    ]
