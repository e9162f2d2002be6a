"""Credentials rotated at the provider: the provider refuses the old ones (cmessages HTTP 401/403,
230sms 101/102/205), which proves nothing was sent; the client reads its secret again past every
cache and, when it has changed, makes that request once more. The next send succeeds with one extra
request and nothing is sent twice."""

import json

import boto3
import pytest

from tests.handlers.conftest import Invoke, Stack, body, event

SENDS = {"cmessages": "/sms/send_message", "230sms": "/outauth/send"}


def rotate_secret(stack: Stack, variable: str, value: dict[str, str]) -> None:
    boto3.client("secretsmanager").put_secret_value(
        SecretId=stack.env[variable], SecretString=json.dumps(value)
    )


def send(invoke: Invoke, to: str, provider: str | None = None) -> dict:
    payload = {"to": [to], "content": "hello", **({"provider": provider} if provider else {})}
    response = invoke("send", event("send", payload))
    return {"status": response["statusCode"], **body(response)}


def test_230sms_rotated_mid_run_the_next_send_goes_with_one_extra_request(
    stack: Stack, invoke: Invoke
) -> None:
    assert send(invoke, "+8617072440811")["status"] == 200  # the secret is read and cached
    stack.sms230.apisecret = "rotated-apisecret"
    rotate_secret(
        stack, "SMS230_SECRET_ID", {"apikey": stack.sms230.apikey, "apisecret": "rotated-apisecret"}
    )

    answer = send(invoke, "+8617072440812")

    assert answer["status"] == 200, answer
    assert answer["provider"] == "230sms"
    assert [m["status"] for m in answer["messages"]] == ["submitted"]
    assert len(stack.sms230.recorded(SENDS["230sms"])) == 3  # the first send, the refusal, the retry
    assert len(stack.sms230.tasks) == 2  # each send went out once
    assert not stack.cm.recorded(SENDS["cmessages"])  # no failover


def test_cmessages_rotated_mid_run_the_next_send_goes_with_one_extra_request(
    stack: Stack, invoke: Invoke
) -> None:
    assert send(invoke, "+8617072440811", "cmessages")["status"] == 200
    stack.cm.app_key = "rotated-app-key"
    rotate_secret(stack, "CMESSAGES_SECRET_ID", {"app_id": stack.cm.app_id, "app_key": "rotated-app-key"})

    answer = send(invoke, "+8617072440812", "cmessages")

    assert answer["status"] == 200, answer
    assert [m["status"] for m in answer["messages"]] == ["submitted"]
    sends = stack.cm.recorded(SENDS["cmessages"])
    assert [r.status for r in sends] == [200, 403, 200]


def test_a_verification_code_after_a_rotation_goes_once(stack: Stack, invoke: Invoke) -> None:
    assert send(invoke, "+8617072440812")["status"] == 200  # the secret is read and cached
    stack.sms230.apisecret = "rotated-apisecret"
    rotate_secret(
        stack, "SMS230_SECRET_ID", {"apikey": stack.sms230.apikey, "apisecret": "rotated-apisecret"}
    )
    response = invoke("verify_code", event("verify_code", {"to": "+8617072440811", "content": "code {code}"}))
    assert response["statusCode"] == 200, response["body"]
    codes = stack.sms230.recorded("/outauth/verifCodeSend")
    assert len(codes) == 2
    assert len(stack.sms230.tasks) == 2  # the send and the code, each once


@pytest.mark.parametrize("named", [True, False], ids=["provider named", "failover order"])
def test_a_refusal_with_the_secret_unchanged_stands_and_is_not_retried(
    stack: Stack, invoke: Invoke, named: bool
) -> None:
    stack.sms230.apisecret = "rotated-at-the-provider-only"

    answer = send(invoke, "+8617072440811", "230sms" if named else None)

    assert len(stack.sms230.recorded(SENDS["230sms"])) == 1  # the secret is the same: no retry
    assert not stack.sms230.tasks
    if named:
        assert answer["status"] >= 400
        assert answer["error"]["provider_code"] == "102"
    else:  # a credential refusal is a definite non-send: the next provider takes the message
        assert answer["status"] == 200, answer
        assert answer["provider"] == "cmessages"
