"""Start, stop and talk to the local stack (`python -m local_stack`) as a subprocess, over HTTP only."""

import contextlib
import json
import os
import queue
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pytest
import urllib3

ROOT = Path(__file__).resolve().parents[2]
READY = "LOCAL_STACK_READY "
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0

# What a user's shell has: the stack gets these of the test process's environment and nothing else.
USER_SHELL = ("PATH", "HOME", "LANG")
# Local stack settings the README documents, for a stack that answers quickly.
FAST = {
    "PORT": "0",
    "POLL_INTERVAL_SECONDS": "1",
    "SMS230_RECEIPT_INTERVALS": "0.2,0.2,0.2",
    "CMESSAGES_STATUS_DELAYS": "0.2,0.5",
}


def user_environment(extra_env: dict[str, str]) -> dict[str, str]:
    """A plain shell's environment (`env -i PATH=… HOME=… LANG=…`) plus the given settings."""
    env = {name: os.environ[name] for name in USER_SHELL if name in os.environ}
    env.setdefault("LANG", "C.UTF-8")
    return {**env, **FAST, **extra_env}


@dataclass
class Answer:
    status: int
    text: str
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.text)


@dataclass
class RunningStack:
    info: dict[str, str]
    process: subprocess.Popen[str]
    log_path: Path
    http: urllib3.PoolManager

    @property
    def api_url(self) -> str:
        return self.info["api_url"]

    @property
    def api_key(self) -> str:
        return self.info["api_key"]

    @property
    def callback_url(self) -> str:
        return self.info["callback_url"]

    def request(
        self,
        method: str,
        url: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        timeout: float = 30.0,
    ) -> Answer:
        data = body if isinstance(body, str | bytes) or body is None else json.dumps(body)
        response = self.http.request(
            method,
            url,
            body=data,
            headers={**({"Content-Type": "application/json"} if data is not None else {}), **(headers or {})},
            timeout=timeout,
            retries=False,
        )
        return Answer(response.status, response.data.decode("utf-8"), dict(response.headers))

    def api(self, method: str, path: str, body: Any = None, key: str | None = "", **headers: str) -> Answer:
        """A call to the gateway: with the right API key unless `key` is given (None = no key)."""
        if key == "":
            key = self.api_key
        if key is not None:
            headers["x-api-key"] = key
        return self.request(method, self.api_url + path, body, headers)

    def sandbox(self, provider: str, method: str, path: str, body: Any = None) -> Any:
        """An admin call to a sandbox (`cmessages` or `sms230`)."""
        answer = self.request(method, self.info[f"{provider}_url"] + path, body)
        assert answer.status == 200, answer.text
        return answer.json()

    def sent_requests(self) -> int:
        """How many send requests reached either provider so far."""
        paths = {"/sms/send_message", "/sms/send_verify", "/outauth/send", "/outauth/verifCodeSend"}
        return sum(
            1
            for provider in ("cmessages", "sms230")
            for request in self.sandbox(provider, "GET", "/_sandbox/requests")
            if request["path"] in paths
        )

    def wait_for(self, what: str, check: Callable[[], Any], timeout: float = 30.0, every: float = 0.2) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            result = check()
            if result:
                return result
            if time.monotonic() > deadline:
                pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
            time.sleep(every)

    def status_of(self, message_id: str) -> dict[str, Any]:
        answer = self.api("GET", f"/sms/messages/{message_id}")
        assert answer.status == 200, answer.text
        result: dict[str, Any] = answer.json()
        return result

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    @property
    def env_file(self) -> Path:
        """Where the stack left its functions' environments (for `make invoke`)."""
        return self.log_path.parent / "env.json"


def _pump(stream: IO[str], lines: "queue.Queue[str | None]") -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


def _tail(path: Path, count: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-count:])


@contextlib.contextmanager
def running_stack(extra_env: dict[str, str]) -> Iterator[RunningStack]:
    """The local stack in a subprocess for a `with` block, its log in a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="local-stack-") as folder:
        log_path = Path(folder) / "stderr.log"
        process, info = start_stack(extra_env, log_path)
        http = urllib3.PoolManager(maxsize=8)
        try:
            yield RunningStack(info, process, log_path, http)
        finally:
            http.clear()
            stop_stack(process, log_path)


def start_stack(extra_env: dict[str, str], log_path: Path) -> tuple[subprocess.Popen[str], dict[str, str]]:
    """`make run` as a user starts it: from a plain shell's environment, in a process group of its
    own (the terminal's Ctrl-C reaches the whole group: stop_stack sends it so)."""
    log = log_path.open("w")
    # Several stacks run at once here: each leaves its functions' environments in its own folder.
    extra_env = {"LOCAL_STACK_ENV_FILE": str(log_path.parent / "env.json"), **extra_env}
    process = subprocess.Popen(
        ["make", "--no-print-directory", "run"],  # noqa: S607 - `make` from PATH, as a user runs it
        cwd=ROOT,
        env=user_environment(extra_env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        start_new_session=True,
    )
    log.close()
    assert process.stdout is not None
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_pump, args=(process.stdout, lines), daemon=True).start()
    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            line = None
        if line is not None and line.startswith(READY):
            return process, json.loads(line[len(READY) :])
        if line is None or time.monotonic() > deadline:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            pytest.fail(f"local stack not ready within {READY_TIMEOUT:.0f} s:\n{_tail(log_path)}")


def stop_stack(process: subprocess.Popen[str], log_path: Path) -> None:
    """Ctrl-C, as a user stops `make run`: the stack stops everything it started and says so."""
    os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        pytest.fail(f"local stack did not stop within {STOP_TIMEOUT:.0f} s:\n{_tail(log_path)}")
    assert _tail(log_path, 1) == "local stack stopped", _tail(log_path)
