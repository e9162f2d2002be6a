"""The one table that turns domain problems into HTTP answers."""

import pytest

from smsgw.http.answers import ANSWERS, RETRY_AFTER, error_body, error_response
from smsgw.platform.errors import (
    Failover,
    GatewayError,
    IdempotencyConflict,
    NotAttempted,
    NotFound,
    NothingSent,
    OutcomeUnknown,
    Problem,
    ProviderRejected,
    ProviderUnavailable,
    RateLimited,
    StorageUnavailable,
    ValidationError,
    WrongState,
)

CASES: list[tuple[GatewayError, int, str]] = [
    (ValidationError.single("to", "bad"), 422, "validation_error"),
    (NotFound("no message x"), 404, "not_found"),
    (RateLimited("slow down", 7), 429, "rate_limited"),
    (IdempotencyConflict(Problem.KEY_REUSED, "other body"), 422, "idempotency_key_reused"),
    (IdempotencyConflict(Problem.IN_PROGRESS, "running"), 409, "request_in_progress"),
    (ProviderRejected("p", "bad number", "104"), 422, "provider_rejected"),
    (ProviderRejected("p", "no balance", "202", failover_ok=True), 502, "provider_rejected"),
    (ProviderUnavailable("p", "refused"), 503, "provider_unavailable"),
    (OutcomeUnknown("p", "read timeout"), 504, "provider_outcome_unknown"),
    (NotAttempted("p", "no time left"), 503, "deadline_reached"),
    (WrongState("the campaign is done"), 409, "wrong_state"),
    (StorageUnavailable("throttled"), 503, "storage_unavailable"),
]


def test_every_problem_has_an_answer() -> None:
    assert set(ANSWERS) == set(Problem)
    assert {problem for error, _, _ in CASES for problem in [error.problem]} == set(Problem)


@pytest.mark.parametrize(("error", "status", "code"), CASES, ids=lambda v: str(v)[:30])
def test_status_and_code(error: GatewayError, status: int, code: str) -> None:
    response = error_response(error)
    assert response.status_code == status
    assert error_body(error)["code"] == code
    headers = response.headers or {}
    if isinstance(error, RateLimited):
        assert headers["Retry-After"] == "7"
    elif error.problem in RETRY_AFTER:
        assert headers["Retry-After"] == str(RETRY_AFTER[error.problem])
    else:
        assert "Retry-After" not in headers


def test_nothing_sent_answers_as_its_last_error_and_lists_the_failovers() -> None:
    first = ProviderUnavailable("a", "refused")
    last = ProviderRejected("b", "bad number", "1008")
    error = NothingSent(last, [Failover("a", 3, first)])
    assert error_response(error).status_code == 422
    assert error_body(error) == {
        "code": "provider_rejected",
        "message": "b code 1008: bad number",
        "provider": "b",
        "provider_code": "1008",
        "failover": [
            {
                "provider": "a",
                "recipients": 3,
                "error": {"code": "provider_unavailable", "message": "a: refused", "provider": "a"},
            }
        ],
    }
