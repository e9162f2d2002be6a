"""Every log line of a full run: no phone number in full, no secret, no signature, no code."""

import json
import logging
import re
from typing import Any

import pytest

from local_stack.events import status_event
from smsgw.platform.observability import logger
from tests.handlers.conftest import TOKEN, Invoke, Stack, api_event, body, event

NUMBERS = ["17072440811", "13800138000"]
CODE = "987654"


def test_a_full_run_logs_no_number_secret_sign_or_code(
    stack: Stack, invoke: Invoke, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    # Everything our code logs, at its most verbose; libraries at the levels they run at in Lambda.
    caplog.set_level(logging.DEBUG, logger="sms-gateway")
    logger.setLevel("DEBUG")
    sent = body(invoke("send", event("send", {"to": NUMBERS, "content": f"Your code is {CODE}"})))
    invoke("send", event("send", {"to": NUMBERS, "content": "hi", "provider": "cmessages"}))
    invoke("verify_code", event("verify_code", {"to": NUMBERS[0], "content": f"Your code is {CODE}"}))
    invoke("verify_code", event("verify_code", {"to": NUMBERS[0], "content": f"code {CODE}"}))  # 429
    invoke(
        "verify_code", event("verify_code", {"to": NUMBERS[1], "content": "made {code}", "code": "246813"})
    )
    invoke("verify_check", event("verify_check", {"to": NUMBERS[1], "code": "135792"}))  # wrong
    invoke("verify_check", event("verify_check", {"to": NUMBERS[1], "code": "246813"}))  # approved
    invoke("send", event("send", {"to": ["12345", NUMBERS[1]], "content": ""}))  # 422
    stack.sms230.faults.inject("error_code", code=202, times=1)
    invoke("send", event("send", {"to": NUMBERS, "content": CODE}))  # failover
    stack.cm.faults.inject("timeout", seconds=2, times=1)
    invoke("send", event("send", {"to": NUMBERS, "content": CODE, "provider": "cmessages"}))  # unknown
    (task,) = [t for t in stack.sms230.tasks.values() if "8617072440811" in t.mobiles][:1]
    receipt = {
        "apikey": stack.sms230.apikey,
        "taskid": str(task.taskid),
        "mobile": "8617072440811",
        "status": "DELIVRD",
    }
    callback = event("callback", receipt)
    invoke("callback", callback)
    invoke("callback", {**callback, "body": "not json"})
    invoke("message_status", status_event(sent["messages"][0]["message_id"]))
    invoke("poll_status", event("poll_status"))
    invoke(
        "blocklist",
        api_event("PUT", "/sms/blocklist/{number}", f"/sms/blocklist/{NUMBERS[1]}", {"number": NUMBERS[1]}),
    )
    invoke("balance", event("balance"))

    logger.setLevel("INFO")
    captured = capsys.readouterr()
    logs = (
        captured.out
        + captured.err
        + "\n".join(r.getMessage() + json.dumps(r.__dict__, default=str) for r in caplog.records)
    )
    assert "send finished" in logs and "failing over" in logs  # the run did log
    forbidden: list[Any] = [
        *NUMBERS,
        CODE,
        "246813",
        "135792",
        TOKEN,
        stack.cm.app_key,
        stack.sms230.apisecret,
    ]
    for secret in forbidden:
        assert secret not in logs, f"{secret!r} appears in the logs"
    assert not re.search(r"\b[0-9a-f]{32}\b", logs), "something like an md5 signature was logged"
