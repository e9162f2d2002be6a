"""Sandbox for the test-only provider "fakepush": `/v2/messages` (≤50 numbers), `/v2/otp`, and one
receipt per number pushed to `callback_url`."""

import itertools
import json
import re
import threading
import urllib.request
from collections.abc import Iterable
from typing import Any

from sandboxes.base import SandboxServer
from sandboxes.wire import Response

ERRORS = {
    29: "slow down",
    40: "bad token",
    41: "no credit",
    42: "bad recipient",
    43: "empty text",
    50: "internal",
}
_NUMBER = re.compile(r"00[1-9][0-9]{6,14}")


class FakePushSandbox(SandboxServer):
    api_paths = frozenset({"/v2/messages", "/v2/otp"})

    def __init__(
        self,
        *,
        account: str = "fp-account",
        token: str = "fp-token",  # noqa: S107 - a sandbox credential
        callback_url: str | None = None,
        fail_numbers: Iterable[str] = (),
        bad_numbers: Iterable[str] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(valid_fault_codes=frozenset(ERRORS), **kwargs)
        self.account, self.token, self.callback_url = account, token, callback_url
        self.fail_numbers = set(fail_numbers)
        self.bad_numbers = set(bad_numbers)  # refused with 42, nothing sent
        self.batches: dict[str, list[str]] = {}
        self.receipts_pushed: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    @property
    def secret(self) -> dict[str, str]:
        return {"account": self.account, "token": self.token}

    def error_for_code(self, code: int) -> Response:
        return Response.json(200, {"ok": False, "code": code, "message": ERRORS[code]})

    def bad_parameter(self, reason: str) -> Response:
        return Response.json(400, {"ok": False, "code": 43, "message": reason})

    def handle_api(self, path: str, body: Any) -> Response:
        if not isinstance(body, dict) or body.get("token") != self.token:
            return self.error_for_code(40)
        recipients = body.get("recipients") if path == "/v2/messages" else [body.get("recipient")]
        if not isinstance(recipients, list) or not 1 <= len(recipients) <= 50:
            return self.error_for_code(42)
        if not all(isinstance(r, str) and _NUMBER.fullmatch(r) for r in recipients):
            return self.error_for_code(42)
        if self.bad_numbers & set(recipients):
            return self.error_for_code(42)
        if not isinstance(body.get("text"), str) or not body["text"].strip():
            return self.error_for_code(43)
        batch = f"B{next(self._ids)}"
        with self._lock:
            self.batches[batch] = list(recipients)
        if self.callback_url:
            threading.Thread(target=self._push, args=(batch, recipients), daemon=True).start()
        return Response.json(200, {"ok": True, "batch": batch})

    def _push(self, batch: str, recipients: list[str]) -> None:
        for recipient in recipients:
            state = "FAILED" if recipient in self.fail_numbers else "DELIVERED"
            receipt = {"account": self.account, "batch": batch, "recipient": recipient, "state": state}
            request = urllib.request.Request(  # noqa: S310 - a loopback URL the test gave
                str(self.callback_url), json.dumps(receipt).encode(), {"Content-Type": "application/json"}
            )
            try:
                with urllib.request.urlopen(request, timeout=5):  # noqa: S310
                    pass
            except OSError:  # the receiver is gone: a real provider would retry later
                continue
            with self._lock:
                self.receipts_pushed.append(receipt)
