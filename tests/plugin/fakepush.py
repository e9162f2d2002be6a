"""A test-only third provider, "fakepush": pushed receipts, `00`-prefixed numbers, numeric codes.

It exists to prove the provider interface: it is this module, its sandbox (`fakepush_sandbox.py`)
and configuration (PROVIDER_MODULES, FAKEPUSH_BASE_URL, FAKEPUSH_SECRET_ID), nothing else.
"""

import hmac
import json
from collections.abc import Mapping, Sequence
from typing import Any

from smsgw.domain.numbers import Recipient, parse_number
from smsgw.domain.statuses import Status
from smsgw.platform.errors import OutcomeUnknown, ValidationError
from smsgw.platform.transport import after_sending
from smsgw.providers import base

CODES = {
    "29": base.Code("slow down", base.Verdict.BACK_OFF),
    "40": base.Code("bad token", base.Verdict.REFUSED_ACCOUNT),
    "41": base.Code("no credit", base.Verdict.REFUSED_ACCOUNT),
    "42": base.Code("bad recipient", base.Verdict.REJECTED_NUMBER),
    "43": base.Code("empty text", base.Verdict.REJECTED),
    "50": base.Code("internal error", base.Verdict.OUTCOME_UNKNOWN),
}


class FakePush(base.Provider):
    name = "fakepush"
    env_prefix = "FAKEPUSH"
    default_base_url = "https://fakepush.invalid"
    id_prefix = "fp"
    id_per_request = True  # one batch id per request
    batch_cap = 50
    receipts = base.Receipts.PUSHED
    options = (base.Option("tag", "tag", "fakepush tag: 1-8 lowercase letters", "[a-z]{1,8}"),)
    codes = CODES
    backoff = (0.01, 0.02)

    def credentials(self, secret: Mapping[str, str]) -> str:
        self.account_id, self.token = str(secret["account"]), str(secret.get("token", ""))
        return self.account_id

    def address(self, recipient: Recipient) -> str:
        return f"00{recipient.country_code}{recipient.national}"

    def send_chunk(
        self, chunk: Sequence[Recipient], content: str, options: Mapping[str, str] = base.NO_OPTIONS
    ) -> base.SendOutcome:
        body = {"recipients": [self.address(r) for r in chunk], "text": content}
        return self.one_id_for_all(chunk, lambda: self._post("/v2/messages", body, options))

    def send_verify(
        self, recipient: Recipient, content: str, options: Mapping[str, str] = base.NO_OPTIONS
    ) -> base.Accepted:
        body = {"recipient": self.address(recipient), "text": content}
        return base.Accepted(recipient, self.paced(lambda: self._post("/v2/otp", body, options)).provider_id)

    def parse_receipt(self, body: str | bytes) -> base.StatusUpdate:
        try:
            data = json.loads(body)
            batch, recipient, state = str(data["batch"]), str(data["recipient"]), str(data["state"])
            account = str(data["account"])
        except (ValueError, KeyError, TypeError):
            raise base.ReceiptRefused(400, "not a fakepush receipt") from None
        if not hmac.compare_digest(account.encode(), self.account_id.encode()):
            raise base.ReceiptRefused(403, "receipt for another account")
        try:
            number = parse_number("+" + recipient.removeprefix("00")).e164
        except ValidationError:
            raise base.ReceiptRefused(400, "receipt for no phone number") from None
        status = Status.DELIVERED if state == "DELIVERED" else Status.FAILED
        return base.StatusUpdate(batch, status, state, number, data.get("at"))

    def _post(self, path: str, body: dict[str, Any], options: Mapping[str, str]) -> base.TaskAnswer:
        payload = {
            "token": self.token,
            **body,
            **{o.wire: options[o.field] for o in self.options if o.field in options},
        }
        reply = self.post(path, payload, idempotent=False)
        try:
            data = reply.json()
        except ValueError:
            raise base.not_processed(self.name, reply.status, reply.text) or after_sending(
                self.name, "unreadable answer", False, status=reply.status, raw=reply.text
            ) from None
        if isinstance(data, dict) and data.get("ok") is True and data.get("batch"):
            return base.TaskAnswer(str(data["batch"]))
        code = str(data.get("code")) if isinstance(data, dict) else None
        error = self.classify(code, status=reply.status, raw=reply.text)
        raise error or OutcomeUnknown(
            self.name, "answer without a batch", code, reply.status, reply.text[:500]
        )


PROVIDER = FakePush
