"""`Idempotency-Key` on send and verify-code: a retried request gets the first answer, with no second
provider call (Powertools idempotency, records in the idempotency table).

The trap (Powertools issue #8049): if Lambda times out mid-send, the INPROGRESS record expires with
the invocation and a retry runs the function again: a second send. So, just before the provider
call, we also write an *intent* marker for the key (one conditional put). A retry that finds the
marker knows an earlier attempt may have sent: it sends nothing and answers `unknown`.
"""

import functools
import json
import time
import zlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from smsgw.domain.caller import IDEMPOTENCY_KEY_PATTERN
from smsgw.platform.config import settings
from smsgw.platform.errors import (
    IdempotencyConflict,
    NothingSent,
    PreviousAttemptUnknown,
    Problem,
    ValidationError,
)
from smsgw.platform.observability import logger

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig
    from aws_lambda_powertools.utilities.typing import LambdaContext

# Powertools' idempotency package is imported on first use: read-only handlers never pay for it.

HEADER = "Idempotency-Key"

HttpAnswer = tuple[int, dict[str, Any]]  # status and body: what a retry gets again


def validate_key(raw: str | None) -> str | None:
    if raw is None:
        return None
    if not IDEMPOTENCY_KEY_PATTERN.fullmatch(raw):
        raise ValidationError.single(HEADER, "must be 1-255 printable ASCII characters without spaces")
    return raw


@functools.cache
def _config() -> "IdempotencyConfig":
    # Cold start: Powertools' idempotency (and its JMESPath) loads at the first send, not at import.
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig  # noqa: PLC0415

    return IdempotencyConfig(
        event_key_jmespath="key",
        payload_validation_jmespath="body",
        expires_after_seconds=settings().idempotency_ttl_seconds,
    )


@functools.cache
def _persistence() -> "DynamoDBPersistenceLayer":
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer  # noqa: PLC0415 - as above

    return DynamoDBPersistenceLayer(table_name=settings().idempotency_table)


@functools.cache
def _runner() -> Callable[..., dict[str, Any]]:
    from aws_lambda_powertools.utilities.idempotency import idempotent_function  # noqa: PLC0415 - as above

    @idempotent_function(data_keyword_argument="request", config=_config(), persistence_store=_persistence())
    def run(request: dict[str, Any], work: Callable[[Callable[[], None]], HttpAnswer]) -> dict[str, Any]:
        try:
            status, answer = work(lambda: mark_intent(request["key"]))
        except NothingSent:
            clear_intent(request["key"])  # certainly not sent: a retry may try again
            raise
        return _keep(request["key"], status, answer)

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
    fresh: list[HttpAnswer] = []

    def first(hook: Callable[[], None]) -> HttpAnswer:
        fresh.append(work(hook))  # this attempt's own answer: no need to read it back
        return fresh[-1]

    try:
        result = _runner()(request=request, work=first)
    except IdempotencyValidationError:
        raise IdempotencyConflict(
            Problem.KEY_REUSED, f"this {HEADER} was used with a different request body"
        ) from None
    except IdempotencyAlreadyInProgressError:
        raise IdempotencyConflict(
            Problem.IN_PROGRESS, f"a request with this {HEADER} is still in progress; retry later"
        ) from None
    return fresh[-1] if fresh else _replay(request["key"], result)


# An answer kept in the idempotency record itself stays under DynamoDB's 400 KB item limit; a
# larger one (10,000 recipients is about 1 MB) is compressed into parts of its own items.
MAX_INLINE_BYTES = 200_000
PART_BYTES = 350_000


def _keep(key: str, status: int, answer: dict[str, Any]) -> dict[str, Any]:
    """What Powertools stores for a replay: the answer, or how many parts hold it."""
    text = json.dumps(answer, ensure_ascii=False, separators=(",", ":")).encode()
    if len(text) <= MAX_INLINE_BYTES:
        return {"status": status, "answer": answer}
    packed = zlib.compress(text, 6)
    parts = [packed[i : i + PART_BYTES] for i in range(0, len(packed), PART_BYTES)]
    expires = int(time.time()) + settings().idempotency_ttl_seconds
    try:
        for number, part in enumerate(parts):
            _client().put_item(
                TableName=settings().idempotency_table,
                Item={
                    "id": {"S": f"answer#{key}#{number}"},
                    "expiration": {"N": str(expires)},
                    "data": {"B": part},
                },
            )
    except Exception:
        # It was sent: never fail now. A replay gets the summary instead of every line.
        logger.exception("keeping the answer for replays failed", extra={"bytes": len(text)})
        short = {k: v for k, v in answer.items() if k != "messages"}
        short["warnings"] = [
            *answer.get("warnings", []),
            "the answer's message lines were not kept for replays",
        ]
        return {"status": status, "answer": short}
    return {"status": status, "parts": len(parts)}


def _replay(key: str, result: dict[str, Any]) -> HttpAnswer:
    if "parts" not in result:
        return int(result["status"]), dict(result["answer"])
    packed = b"".join(
        bytes(
            _client().get_item(
                TableName=settings().idempotency_table,
                Key={"id": {"S": f"answer#{key}#{number}"}},
                ConsistentRead=True,
            )["Item"]["data"]["B"]
        )
        for number in range(int(result["parts"]))
    )
    return int(result["status"]), dict(json.loads(zlib.decompress(packed)))


@functools.cache
def _client() -> Any:
    import boto3  # noqa: PLC0415 - cold start: only a keyed send writes an intent

    return boto3.client("dynamodb")


def mark_intent(key: str) -> None:
    """One conditional put: the first attempt to reach the provider call for this key wins."""
    from botocore.exceptions import ClientError  # noqa: PLC0415 - as above

    expires = int(time.time()) + settings().idempotency_ttl_seconds
    try:
        _client().put_item(
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
    _client().delete_item(TableName=settings().idempotency_table, Key={"id": {"S": f"intent#{key}"}})
