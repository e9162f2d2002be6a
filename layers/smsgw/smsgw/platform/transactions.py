"""DynamoDB transactions as the gateway writes them: one cancelled by contention alone is made again.

DynamoDB cancels a TransactWriteItems that meets another transaction on one of its items
(`TransactionConflict`) or a throttled partition, and then writes nothing; botocore does not retry it.
AWS's advice is to retry with back-off: so the gateway does, a few times, for those reasons only. A
cancellation that names a failed condition is an answer, and is raised at once for the caller to read.
"""

import random
import time
from typing import Any

from botocore.exceptions import ClientError

# Cancellation reasons that prove only contention (nothing written, nothing wrong with the request).
CONTENTION = frozenset({"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"})
ATTEMPTS = 5
FIRST_PAUSE_SECONDS = 0.02


def transact_write(client: Any, items: list[dict[str, Any]]) -> None:
    """TransactWriteItems, made again (up to ATTEMPTS in all, with jittered back-off) while DynamoDB
    cancels it for contention only."""
    for attempt in range(ATTEMPTS):
        try:
            client.transact_write_items(TransactItems=items)
            return
        except ClientError as error:
            if attempt == ATTEMPTS - 1 or not contention_only(error):
                raise
        time.sleep(FIRST_PAUSE_SECONDS * 2**attempt * (0.5 + random.random()))  # noqa: S311  # nosec B311 - jitter, not a secret


def contention_only(error: ClientError) -> bool:
    """Whether a cancelled transaction was cancelled for contention alone."""
    if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
        return False
    codes = {str(reason.get("Code")) for reason in error.response.get("CancellationReasons", [])} - {"None"}
    return bool(codes) and codes <= CONTENTION
