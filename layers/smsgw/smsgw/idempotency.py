"""`Idempotency-Key` on send and verify-code: a retried request gets the first answer, with no second
provider call (Powertools idempotency, records in the idempotency table).

The trap (Powertools issue #8049): if Lambda times out mid-send, the INPROGRESS record expires with
the invocation and a retry runs the function again: a second send. So, just before the provider
call, we also write an *intent* marker for the key (one conditional put). A retry that finds the
marker knows an earlier attempt may have sent: it sends nothing and answers `unknown`.
"""

import functools
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .config import settings
from .errors import GatewayError, IdempotencyConflict, NothingSent, Problem, ValidationError

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig
    from aws_lambda_powertools.utilities.typing import LambdaContext

# Powertools' idempotency package is imported on first use: read-only handlers never pay for it.

HEADER = "Idempotency-Key"
_VALID_KEY = re.compile(r"[\x21-\x7e]{1,255}")  # printable ASCII, no spaces

HttpAnswer = tuple[int, dict[str, Any]]  # status and body: what a retry gets again


@dataclass(frozen=True, slots=True)
class Caller:
    request_id: str
    api_key: str  # the API key's id: scopes idempotency keys and quotas
    idempotency_key: str | None = None
    context: "LambdaContext | None" = None


class PreviousAttemptUnknown(GatewayError):
    """An earlier attempt with this key reached the provider call and never finished."""


def validate_key(raw: str | None) -> str | None:
    if raw is None:
        return None
    if not _VALID_KEY.fullmatch(raw):
        raise ValidationError.single(HEADER, "must be 1-255 printable ASCII characters without spaces")
    return raw


@functools.cache
def _config() -> "IdempotencyConfig":
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig  # noqa: PLC0415

    return IdempotencyConfig(
        event_key_jmespath="key",
        payload_validation_jmespath="body",
        expires_after_seconds=settings().idempotency_ttl_seconds,
    )


@functools.cache
def _persistence() -> "DynamoDBPersistenceLayer":
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer  # noqa: PLC0415

    return DynamoDBPersistenceLayer(table_name=settings().idempotency_table)


@functools.cache
def _runner() -> Callable[..., dict[str, Any]]:
    from aws_lambda_powertools.utilities.idempotency import idempotent_function  # noqa: PLC0415

    @idempotent_function(data_keyword_argument="request", config=_config(), persistence_store=_persistence())
    def run(request: dict[str, Any], work: Callable[[Callable[[], None]], HttpAnswer]) -> dict[str, Any]:
        try:
            status, answer = work(lambda: mark_intent(request["key"]))
        except NothingSent:
            clear_intent(request["key"])  # certainly not sent: a retry may try again
            raise
        return {"status": status, "answer": answer}

    return run  # type: ignore[no-any-return]


def once(
    operation: str,
    *,
    key: str | None,
    scope: str,
    body: Any,
    work: Callable[[Callable[[], None]], HttpAnswer],
    context: "LambdaContext | None",
) -> HttpAnswer:
    """Run `work` at most once per (operation, API key, Idempotency-Key). `work` receives a hook to
    call right before the provider call; without a key it is a no-op."""
    if key is None:
        return work(lambda: None)
    if context is not None:
        _config().register_lambda_context(context)  # INPROGRESS expires with this invocation
    from aws_lambda_powertools.utilities.idempotency.exceptions import (  # noqa: PLC0415
        IdempotencyAlreadyInProgressError,
        IdempotencyValidationError,
    )

    request = {"key": f"{operation}#{scope}#{key}", "body": body}
    try:
        result = _runner()(request=request, work=work)
    except IdempotencyValidationError:
        raise IdempotencyConflict(
            Problem.KEY_REUSED, f"this {HEADER} was used with a different request body"
        ) from None
    except IdempotencyAlreadyInProgressError:
        raise IdempotencyConflict(
            Problem.IN_PROGRESS, f"a request with this {HEADER} is still in progress; retry later"
        ) from None
    return int(result["status"]), dict(result["answer"])


def mark_intent(key: str) -> None:
    """One conditional put: the first attempt to reach the provider call for this key wins."""
    import boto3  # noqa: PLC0415
    from botocore.exceptions import ClientError  # noqa: PLC0415

    expires = int(time.time()) + settings().idempotency_ttl_seconds
    try:
        boto3.client("dynamodb").put_item(
            TableName=settings().idempotency_table,
            Item={"id": {"S": f"intent#{key}"}, "expiration": {"N": str(expires)}},
            ConditionExpression="attribute_not_exists(id)",
        )
    except ClientError as error:
        if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
            raise PreviousAttemptUnknown(
                "an earlier attempt with this Idempotency-Key may have sent"
            ) from None
        raise


def clear_intent(key: str) -> None:
    import boto3  # noqa: PLC0415

    boto3.client("dynamodb").delete_item(
        TableName=settings().idempotency_table, Key={"id": {"S": f"intent#{key}"}}
    )
