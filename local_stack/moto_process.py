"""Moto's `ThreadedMotoServer` in a child process of its own (`python -m local_stack.moto_process`).

Moto spends several milliseconds of pure Python per DynamoDB call (expression parsing, validation).
In the stack's process it would compete for one GIL with the handlers, the API emulation and the
sandboxes; in its own process it runs on another core. The child prints its port on stdout, ignores
Ctrl-C (the terminal sends it to the whole process group: the parent stops it) and stops when its
stdin closes — when the parent says so, or when the parent is gone.
"""

import contextlib
import logging
import signal
import subprocess  # nosec B404 - starts our own Moto child process
import sys
import threading
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 10.0
READY = "MOTO_READY "


class MotoProcess:
    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.requested_port = port
        self.port = 0
        self._process: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        self.launch()
        self.wait_ready()

    def launch(self) -> None:
        """Start the child; `wait_ready()` later (it boots while the caller does other work)."""
        self._process = subprocess.Popen(  # noqa: S603  # nosec B603 - our own module, no shell
            [sys.executable, "-m", "local_stack.moto_process", self.host, str(self.requested_port)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def wait_ready(self) -> None:
        process = self._process
        if process is None:
            raise RuntimeError("Moto not launched")
        stdout = process.stdout
        line: list[str] = []

        def read_ready_line() -> None:
            if stdout is not None:
                line.append(stdout.readline())

        reader = threading.Thread(target=read_ready_line, daemon=True)
        reader.start()
        reader.join(START_TIMEOUT_SECONDS)
        answer = line[0] if line else ""
        if not answer.startswith(READY):
            self.stop()
            reason = "timed out" if not line else "exited (see the error above)"
            raise RuntimeError(f"Moto on {self.host}:{self.requested_port} {reason}")
        self.port = int(answer.removeprefix(READY))

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(OSError):
            if process.stdin is not None:
                process.stdin.close()  # the child's signal to stop
        try:
            process.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def main(host: str, port: int) -> None:
    """The child: serve until stdin closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from moto.server import ThreadedMotoServer  # noqa: PLC0415 - only the child needs it

    from . import moto_speedups  # noqa: PLC0415

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one INFO line per AWS call
    moto_speedups.install()
    server: Any = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    sys.stdout.write(f"{READY}{server.get_host_and_port()[1]}\n")
    sys.stdout.flush()
    sys.stdin.read()  # until EOF: the parent closed it, or the parent is gone
    server.stop()
    server._server.server_close()  # stop() leaves the listening socket open


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
