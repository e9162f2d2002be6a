"""What the API shows of one message (`GET /sms/messages/{id}`): its request item and its status
item, both found from its id with no other read (one BatchGetItem of two keys)."""

import re
from typing import Any

from smsgw.domain.numbers import number_keys
from smsgw.domain.statuses import FINAL, Status
from smsgw.platform.errors import NotFound
from smsgw.providers.registry import by_prefix
from smsgw.storage.items import MessageRef, RequestItem, StatusItem
from smsgw.storage.messages import MessageStore

_MESSAGE_ID = re.compile(r"[A-Za-z0-9-]{1,128}")
_NUMBER_KEY = re.compile(r"[0-9a-f]{16}")


def parse_message_id(message_id: str) -> MessageRef | None:
    """ "<prefix>-<request key>-<number key>" -> its parts; None for any other shape."""
    prefix, _, rest = message_id.partition("-")
    key, _, nkey = rest.rpartition("-")
    name = by_prefix(prefix)
    if name is None or not key or not _NUMBER_KEY.fullmatch(nkey):
        return None
    return MessageRef(name, key, nkey)


def find(store: MessageStore, message_id: str) -> dict[str, Any] | None:
    """The message as the API shows it, with its tenant; None when there is no such message."""
    ref = parse_message_id(message_id)
    if ref is None:
        return None
    request, news = store.message_items([ref])[ref]
    if news is None and request is not None:
        news = _under_own_key(store, ref, request)
    return message_view(message_id, ref, request, news)


def _under_own_key(store: MessageStore, ref: MessageRef, request: RequestItem) -> StatusItem | None:
    """The news of a message sent before the number key (its id has the unkeyed number key,
    LEGACY_NUMBER_KEYS) that came after it: under its number's own key."""
    for number in request.numbers:
        own, *older = number_keys(number)
        if ref.nkey in older:
            keyed = MessageRef(ref.provider, ref.key, own)
            return store.statuses([keyed]).get(keyed)
    return None


def lookup(store: MessageStore, message_id: str, tenant: str | None = None) -> dict[str, Any]:
    """`find` for `tenant`, or NotFound: also for another tenant's message, and for what cannot be a
    message id (no key that long is read). A tenant sees exactly its own messages: not those of no
    tenant (a receipt for a send never recorded, a send of TENANCY=single), which only the shared
    tenant (None) sees, as it sees every message."""
    message = find(store, message_id) if _MESSAGE_ID.fullmatch(message_id) else None
    if message is not None and tenant is not None and message.get("tenant") != tenant:
        message = None
    if message is None:
        raise NotFound(f"no message {message_id[:128]}")
    message.pop("tenant", None)
    return message


def message_view(
    message_id: str, ref: MessageRef, request: RequestItem | None, news: StatusItem | None
) -> dict[str, Any] | None:
    """What the API shows of one message, from its request item and its status item (either may be
    missing: no news yet; or a receipt for a send we have no record of)."""
    if request is None and news is None:
        return None
    number, position = None, -1
    if request is not None:
        position = next((i for i, n in enumerate(request.numbers) if ref.nkey in number_keys(n)), -1)
        if position < 0:
            return None if news is None else message_view(message_id, ref, None, news)
        number = request.numbers[position]
    closed = request is not None and request.closed_at is not None
    if news is not None and (news.status in FINAL or not closed):
        status, provider_status = news.status, news.provider_status
    elif request is not None and closed:
        status, provider_status = request.closed_as or str(Status.UNKNOWN), request.closed_status
    else:
        status, provider_status = (request.status if request else str(Status.SUBMITTED)), None
    ids = request.provider_ids if request else []
    provider_id = ids[position] if ids and position >= 0 else (request.provider_id if request else None)
    return {
        "message_id": message_id,
        "provider": ref.provider,
        "to": number,
        "status": status,
        "provider_status": provider_status,
        "provider_id": provider_id or (news.provider_id if news else None),
        "submitted_at": request.submitted_at if request else None,
        "updated_at": (news.updated_at if news else None)
        or (request.closed_at or request.submitted_at if request else None),
        "kind": request.kind if request else None,
        "tenant": request.tenant if request else None,
        "delivered_at": news.delivered_at if news else None,
        # A receipt for a message with an unknown outcome, matched later by number: the link.
        "reconciled_with": (news.reconciled_from or news.reconciled_to) if news else None,
        "recorded": request is not None,  # False: a receipt for a send we have no record of
    }
