"""Verification codes the gateway makes and checks.

`POST /sms/verify-code` with a `{code}` placeholder in `content`: the gateway draws the code
(`secrets`, digits, `code_length` 6-10, default 6) or takes the caller's `code`, sends it, and keeps
only an HMAC of it (keyed by a pepper held in Secrets Manager) in the limits table, with a TTL:
`otp#<tenant>#<number hash>` holds the live code of a number (a new send supersedes it), and
`otpid#<verification_id>` points to it. The answer carries `verification_id`, never the code.

`POST /sms/verify-code/check`: a check spends an attempt in one conditional write before the code is
compared (in constant time), so concurrent checks cannot try more codes than the limit; a right
code is approved by a second conditional write that only one check can win (single use).
"""

import functools
import hashlib
import hmac
import re
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.exceptions import ClientError

from smsgw.domain.content import LONGEST_CODE, SHORTEST_CODE
from smsgw.domain.numbers import Recipient, number_hash, parse_number
from smsgw.domain.statuses import CheckStatus
from smsgw.guards import fraud
from smsgw.guards.limits import limits
from smsgw.platform.config import settings
from smsgw.platform.errors import FieldError, ValidationError
from smsgw.platform.observability import count
from smsgw.platform.transactions import transact_write

PLACEHOLDER = "{code}"
FIELDS = ("code", "code_length", "code_type")
ALPHABETS = {"digits": "0123456789", "alphanumeric": "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"}  # no 0/O, 1/I
SHORTEST, LONGEST = SHORTEST_CODE, LONGEST_CODE
_CALLER_CODE = {
    "digits": re.compile(rf"[0-9]{{{SHORTEST},{LONGEST}}}"),
    "alphanumeric": re.compile(rf"[0-9A-Za-z]{{{SHORTEST},{LONGEST}}}"),
}


@dataclass(frozen=True, slots=True)
class Check:
    status: CheckStatus
    attempts_left: int
    verification_id: str | None = None


def code_for(body: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """The request without the code fields and with `{code}` filled in, and the code; content
    without the placeholder is sent as written (no code is kept)."""
    content = body.get("content")
    given = {name: body[name] for name in FIELDS if name in body}
    rest = {k: v for k, v in body.items() if k not in FIELDS}
    if not isinstance(content, str) or PLACEHOLDER not in content:
        if given:
            raise ValidationError([FieldError(name, f"needs {PLACEHOLDER} in content") for name in given])
        return rest, None
    kind = given.get("code_type", "digits")
    if kind not in ALPHABETS:
        raise ValidationError.single("code_type", f"must be one of {', '.join(ALPHABETS)}")
    code = given.get("code")
    if code is not None:
        if not isinstance(code, str) or not _CALLER_CODE[kind].fullmatch(code):
            raise ValidationError.single(
                "code",
                f"must be {SHORTEST}-{LONGEST} {'digits' if kind == 'digits' else 'letters or digits'}",
            )
    else:
        length = given.get("code_length", 6)
        if isinstance(length, bool) or not isinstance(length, int) or not SHORTEST <= length <= LONGEST:
            raise ValidationError.single(
                "code_length", f"must be a whole number from {SHORTEST} to {LONGEST}"
            )
        code = "".join(secrets.choice(ALPHABETS[kind]) for _ in range(length))
    return {**rest, "content": content.replace(PLACEHOLDER, code)}, code


class Verifications:
    def __init__(self, table_name: str, pepper: bytes, *, ttl_seconds: int, max_checks: int) -> None:
        self.table_name = table_name
        self.pepper = pepper
        self.ttl_seconds = ttl_seconds
        self.max_checks = max_checks
        self.client: Any = boto3.client("dynamodb")

    def start(self, recipient: Recipient, code: str, tenant: str | None, now: float | None = None) -> str:
        """Keep a sent code (its HMAC only); returns its verification_id."""
        now = time.time() if now is None else now
        verification_id = "v-" + uuid.uuid4().hex
        key = self._key(recipient.e164, tenant)
        expires = int(now) + self.ttl_seconds
        items = [
            {
                "pk": {"S": key},
                "verification_id": {"S": verification_id},
                "code_hmac": {"S": self._hmac(key, code)},
                "attempts_left": {"N": str(self.max_checks)},
                "state": {"S": "pending"},
                "valid_until": {"N": str(expires)},
                # Where an approval counts for the conversion guard (hashed prefix, country).
                "scopes": {"SS": [f"{kind}#{value}" for kind, value in fraud.scopes(recipient).items()]},
                "expires_at": {"N": str(expires + 86400)},  # DynamoDB's TTL, a day after
            },
            {
                "pk": {"S": f"otpid#{verification_id}"},
                "key": {"S": key},
                "expires_at": {"N": str(expires + 86400)},
            },
        ]
        transact_write(self.client, [{"Put": {"TableName": self.table_name, "Item": i}} for i in items])
        count("VerificationsSent", 1)
        return verification_id

    def check(
        self,
        code: str,
        *,
        to: str | None,
        verification_id: str | None,
        tenant: str | None,
        now: float | None = None,
    ) -> Check:
        """Each check first spends an attempt (one conditional write, so no number of concurrent
        checks can try more codes than the limit), then compares the code's HMAC in constant time;
        a right code is approved by a second conditional write, which only one check can win."""
        now = time.time() if now is None else now
        key = self._key(parse_number(to).e164, tenant) if to else self._key_of(verification_id or "", tenant)
        if key is None:
            return Check(CheckStatus.NOT_FOUND, 0)
        same_id = " AND verification_id = :id" if verification_id else ""
        ids = {":id": {"S": verification_id}} if verification_id else {}
        try:
            spent = self.client.update_item(
                TableName=self.table_name,
                Key={"pk": {"S": key}},
                UpdateExpression="SET attempts_left = attempts_left - :one",
                ConditionExpression="#state = :pending AND valid_until > :now AND attempts_left > :zero"
                + same_id,
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues={
                    ":pending": {"S": "pending"},
                    ":now": {"N": str(now)},
                    ":zero": {"N": "0"},
                    ":one": {"N": "1"},
                    **ids,
                },
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )["Attributes"]
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            old = error.response.get("Item")
            return _refused(old if isinstance(old, dict) else None, verification_id, now)
        current_id, left = spent["verification_id"]["S"], int(spent["attempts_left"]["N"])
        if not hmac.compare_digest(spent["code_hmac"]["S"], self._hmac(key, code)):
            return Check(CheckStatus.PENDING if left else CheckStatus.MAX_ATTEMPTS, left, current_id)
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key={"pk": {"S": key}},
                UpdateExpression="SET #state = :approved, attempts_left = :zero",
                ConditionExpression="#state = :pending AND verification_id = :id",
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues={
                    ":approved": {"S": "approved"},
                    ":pending": {"S": "pending"},
                    ":zero": {"N": "0"},
                    ":id": {"S": current_id},
                },
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return Check(CheckStatus.NOT_FOUND, 0, current_id)  # another check approved it first
        count("VerificationsApproved", 1)
        limits().approved(tuple(spent.get("scopes", {}).get("SS", [])))
        return Check(CheckStatus.APPROVED, 0, current_id)

    def _key(self, e164: str, tenant: str | None) -> str:
        return f"otp#{tenant or '-'}#{number_hash(e164)}"

    def _key_of(self, verification_id: str, tenant: str | None) -> str | None:
        if not re.fullmatch(r"v-[0-9a-f]{32}", verification_id):
            return None
        found = self.client.get_item(
            TableName=self.table_name, Key={"pk": {"S": f"otpid#{verification_id}"}}, ConsistentRead=True
        ).get("Item")
        key = found["key"]["S"] if found else None
        return key if key and key.startswith(f"otp#{tenant or '-'}#") else None

    def _hmac(self, key: str, code: str) -> str:
        return hmac.new(self.pepper, f"{key}:{code}".encode(), hashlib.sha256).hexdigest()


def _refused(item: dict[str, Any] | None, verification_id: str | None, now: float) -> Check:
    """Why no attempt could be spent."""
    if not item or item["state"]["S"] != "pending":
        return Check(CheckStatus.NOT_FOUND, 0)  # none, or already approved: single use
    current_id = item["verification_id"]["S"]
    if verification_id and current_id != verification_id:
        return Check(CheckStatus.NOT_FOUND, 0)  # superseded by a newer code
    if float(item["valid_until"]["N"]) <= now:
        return Check(CheckStatus.EXPIRED, 0, current_id)
    return Check(CheckStatus.MAX_ATTEMPTS, 0, current_id)


@functools.cache
def verifications() -> Verifications:
    from aws_lambda_powertools.utilities import parameters  # noqa: PLC0415 - cold start: first code only

    config = settings()
    pepper = parameters.get_secret(config.verification_pepper_secret_id, transform="json")["pepper"]
    return Verifications(
        config.limits_table,
        str(pepper).encode(),
        ttl_seconds=config.verification_ttl_seconds,
        max_checks=config.verification_max_checks,
    )
