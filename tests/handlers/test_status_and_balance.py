"""GET /sms/balance and GET /sms/messages/{message_id}."""

from local_stack.events import status_event
from tests.handlers.conftest import Invoke, Stack, body, event


def test_balance_reports_cmessages_and_says_230sms_has_none(stack: Stack, invoke: Invoke) -> None:
    stack.cm.balance = 42.5
    response = invoke("balance", event("balance"))
    assert response["statusCode"] == 200
    assert body(response)["balances"] == [
        {"provider": "cmessages", "supported": True, "balance": 42.5},
        {"provider": "230sms", "supported": False, "reason": "230sms has no balance API"},
    ]
    assert stack.sms230.requests == []


def test_balance_shows_a_provider_error_inline(stack: Stack, invoke: Invoke) -> None:
    stack.cm.faults.inject("error_code", code=401)
    response = invoke("balance", event("balance"))
    assert response["statusCode"] == 200
    (cm, _) = body(response)["balances"]
    assert cm["error"]["provider_code"] == "401"


def test_status_of_a_sent_message(stack: Stack, invoke: Invoke) -> None:
    sent = body(invoke("send", event("send_cmessages")))["messages"][0]
    response = invoke("message_status", status_event(sent["message_id"]))
    assert response["statusCode"] == 200
    answer = body(response)
    assert answer["message_id"] == sent["message_id"]
    assert (answer["provider"], answer["to"], answer["status"]) == (
        "cmessages",
        "+8617072440811",
        "submitted",
    )
    assert answer["submitted_at"].endswith("Z") and answer["updated_at"]
    assert answer["provider_status"] is None


def test_unknown_message_is_404(stack: Stack, invoke: Invoke) -> None:
    response = invoke("message_status", status_event("cm-999999"))
    assert response["statusCode"] == 404
    assert body(response)["error"]["code"] == "not_found"


def test_the_sample_status_event_names_a_message_of_another_number_key(stack: Stack, invoke: Invoke) -> None:
    """A message id's number part is keyed by the deployment's own secret: the sample event's id
    (request 521, the sandbox's first, as in the provider's document) is no message here, before
    the send or after it, while the send's own id is."""
    assert invoke("message_status", event("message_status"))["statusCode"] == 404
    sent = body(invoke("send", event("send_cmessages")))["messages"][0]["message_id"]
    assert sent.startswith("cm-521-") and sent != event("message_status")["pathParameters"]["message_id"]
    assert invoke("message_status", event("message_status"))["statusCode"] == 404
    assert body(invoke("message_status", status_event(sent)))["message_id"] == sent
