"""The local inbox console (`make run` only, never deployed): what each phone number received from
either sandbox, the gateway's status of each message as it changes, the provider request and
receipts behind it, and switches that make a sandbox misbehave.

This module routes the console's requests and renders its sections; what the sandboxes delivered
is read in deliveries.py, and page.py makes the HTML (every value escaped: message content is user
input). A page's live region is the same render asked with `fragment=1`; a few lines of script fetch it
every second and swap it in, so the page updates without a reload and without a second renderer.

What a phone received comes from the sandboxes (their recorded requests and answers); the gateway's
status from the messages table, read with the layer's own store functions (two keys per message,
one BatchGetItem per page).
"""

import hmac
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlencode, urlsplit

from sandboxes import SandboxServer

from ..gateway import Reply
from ..lambdas import ensure_import_paths
from .deliveries import PROVIDERS, Delivery, deliveries_of, e164_of, masked_body
from .page import PAGE_SIZE, PREFIX, current, escape, html_page, json_block, page_of, pager, sign_of, when
from .webhooks import INBOX, WebhookInbox

ensure_import_paths()  # the layer's package, importable as the functions import it
from smsgw.delivery.lookup import message_view, parse_message_id  # noqa: E402
from smsgw.domain.content import count_segments  # noqa: E402
from smsgw.domain.numbers import number_key  # noqa: E402
from smsgw.storage.items import REQUEST, RequestItem, request_pk, status_pk  # noqa: E402
from smsgw.storage.messages import message_store  # noqa: E402

SCAN_EVERY_SECONDS = 1.0  # the messages table is scanned for new cmessages requests at most this often


def serves(target: str) -> bool:
    """Whether a request target (path and query) is the console's."""
    path = urlsplit(target).path
    return path == PREFIX or path.startswith(PREFIX + "/")


# The console shows numbers and codes and flips faults: it answers only a request addressed to this
# machine by name (a page of another site whose name resolves here, DNS rebinding, is refused).
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})


class Console:
    """Serves /_console for a running LocalStack (its sandboxes and its messages table). Each run
    makes a token of its own, put in the console's forms: a switch without it is refused."""

    def __init__(self, sandboxes: Callable[[], dict[str, SandboxServer]]) -> None:
        self.sandboxes = sandboxes
        self.token = secrets.token_urlsafe(18)
        self.webhooks = WebhookInbox()
        self._lock = threading.Lock()
        self._seen: dict[str, int] = {}  # sandbox -> requests already turned into deliveries
        self._deliveries: list[Delivery] = []
        self._by_number: dict[str, list[Delivery]] = {}
        self._cm_ids: dict[str, str] = {}  # cmessages message id -> gateway message id
        self._campaigns: list[dict[str, Any]] = []
        self._scanned_at = 0.0

    # -- data ------------------------------------------------------------------------------------

    def deliveries(self) -> list[Delivery]:
        """Every delivery so far, oldest first (new sandbox requests read once each)."""
        with self._lock:
            before = len(self._deliveries)
            for name, sandbox in self.sandboxes().items():
                provider = PROVIDERS[name]
                recorded = sandbox.recorded()
                start = self._seen.get(name, 0)
                done = start
                for index in range(start, len(recorded)):
                    if recorded[index].status is None:
                        break  # still being answered: read again next time
                    for d in deliveries_of(provider, sandbox, index, recorded[index]):
                        self._deliveries.append(d)
                        self._by_number.setdefault(d.number, []).append(d)
                    done = index + 1
                self._seen[name] = done
            if len(self._deliveries) > before:  # the two sandboxes' requests interleave in time
                self._deliveries.sort(key=lambda d: d.at)
                for mine in self._by_number.values():
                    mine.sort(key=lambda d: d.at)
            return list(self._deliveries)

    def message_id(self, d: Delivery) -> str | None:
        """The gateway's id of a delivered message (None: the gateway has no record of it yet)."""
        if d.provider == "230sms":
            return f"230-{d.ref}-{number_key(d.number)}"
        return self._cm_ids.get(d.ref)

    def _scan(self, force: bool = False) -> None:
        """Learn cmessages ids and campaigns from the messages table, at most once a second."""
        if not force and time.monotonic() - self._scanned_at < SCAN_EVERY_SECONDS:
            return
        self._scanned_at = time.monotonic()
        table = message_store().table
        kwargs: dict[str, Any] = {
            "FilterExpression": "sk IN (:request, :campaign)",
            "ExpressionAttributeValues": {":request": REQUEST, ":campaign": "CAMPAIGN"},
        }
        campaigns = []
        while True:
            page = table.scan(**kwargs)
            for item in page.get("Items", []):
                if item["sk"] == "CAMPAIGN":
                    campaigns.append(item)
                elif item.get("provider") == "cmessages":
                    request = RequestItem.from_item(item)
                    for number, cm_id in zip(request.numbers, request.provider_ids, strict=False):
                        self._cm_ids[cm_id] = f"cm-{request.key}-{number_key(number)}"
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        self._campaigns = sorted(campaigns, key=lambda c: str(c.get("created_at", "")), reverse=True)

    def statuses(self, deliveries: Iterable[Delivery]) -> dict[Delivery, dict[str, Any]]:
        """The gateway's view of each delivery that it knows: one BatchGetItem per 50 messages."""
        deliveries = list(deliveries)
        if any(d.provider == "cmessages" and d.ref not in self._cm_ids for d in deliveries):
            self._scan()
        refs = {d: ref for d in deliveries if (mid := self.message_id(d)) and (ref := parse_message_id(mid))}
        items = message_store().message_items(list(dict.fromkeys(refs.values()))) if refs else {}
        views = {}
        for d, ref in refs.items():
            view = message_view(self.message_id(d) or "", ref, *items[ref])
            if view is not None:
                views[d] = view
        return views

    # -- HTTP ------------------------------------------------------------------------------------

    def handle(self, method: str, target: str, body: bytes, headers: list[tuple[str, str]]) -> Reply:
        parts = urlsplit(target)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        path = parts.path.rstrip("/") or PREFIX
        named = {k.lower(): v for k, v in headers}
        if urlsplit(f"//{named.get('host', '')}").hostname not in LOCAL_HOSTS:
            return html_page(403, "Forbidden", "<p>The console answers on 127.0.0.1 or localhost only.</p>")
        if method == "POST" and path == f"{PREFIX}/faults":
            return self._post_switch(body, named)
        inbox_url = f"http://{named.get('host', '')}{INBOX}"
        if method == "POST" and path == INBOX:  # the built-in webhook receiver
            return Reply(self.webhooks.receive(body, named, inbox_url), [("Content-Length", "0")], b"")
        if method != "GET":
            return html_page(405, "Method Not Allowed", "<p>GET or POST only.</p>")
        pages: dict[str, tuple[str, Callable[[], tuple[int, str]]]] = {
            PREFIX: ("Inbox", lambda: self.inbox(query)),
            f"{PREFIX}/message": ("Message", lambda: self.message(query)),
            f"{PREFIX}/webhooks": ("Webhooks", lambda: self.webhooks.page(inbox_url)),
        }
        if path in pages:
            title, render = pages[path]
            return self._render(render(), title, query.get("fragment") == "1")
        return html_page(404, "Not Found", f'<p>No such page. <a href="{PREFIX}">The inbox</a>.</p>')

    def _post_switch(self, body: bytes, headers: dict[str, str]) -> Reply:
        origin = headers.get("origin")
        form = {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        from_here = origin is None or urlsplit(origin).netloc == headers.get("host", "")
        if not from_here or not hmac.compare_digest(form.get("token", "").encode(), self.token.encode()):
            return html_page(403, "Forbidden", "<p>Fault switches take requests from this console only.</p>")
        problem = self.switch(form)
        if problem:
            return html_page(400, "Bad switch", f"<p>{escape(problem)}</p>")
        back = urlsplit(headers.get("referer") or PREFIX)  # back to the page, on this host only
        location = back.path + (f"?{back.query}" if back.query else "") if serves(back.path) else PREFIX
        return Reply(303, [("Location", location)], b"")

    def _render(self, content: tuple[int, str], title: str, fragment: bool) -> Reply:
        status, inner = content
        if fragment:
            return Reply(status, [("Content-Type", "text/html; charset=utf-8")], inner.encode())
        return html_page(status, title, f'<div id="live">{inner}</div>{self.switches()}', live=True)

    # -- pages -----------------------------------------------------------------------------------

    def inbox(self, query: dict[str, str]) -> tuple[int, str]:
        all_ = self.deliveries()
        numbers = sorted(self._by_number, key=lambda n: self._by_number[n][-1].at, reverse=True)
        selected = query.get("number")
        shown = list(reversed(self._by_number.get(selected, []) if selected else all_))
        page, pages = page_of(query.get("page"), len(shown))
        npage, npages = page_of(query.get("numbers_page"), len(numbers))
        on_page = shown[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
        views = self.statuses(on_page)
        rows = "".join(self._row(d, views.get(d)) for d in on_page)
        link = {"number": selected} if selected else {}
        number_items = "".join(
            f'<li><a href="{PREFIX}?{urlencode({"number": n})}"{current(n == selected)}>'
            f"{escape(n)}</a> <span class=count>{len(self._by_number[n])}</span></li>"
            for n in numbers[(npage - 1) * PAGE_SIZE : npage * PAGE_SIZE]
        )
        heading = f"Inbox of {escape(selected)}" if selected else "Every message"
        return 200, (
            "<section class=numbers>"
            f"<h2>Numbers <span class=count id=numbers-count>{len(numbers)}</span></h2>"
            f"<ul>{number_items or '<li>No message yet: send one through the API.</li>'}</ul>"
            f"{pager(npage, npages, {**link, 'page': str(page)}, 'numbers_page')}</section>"
            f'<section class="messages"><h2>{heading} <span class=count id=messages-count>{len(shown)}</span>'
            f"{' <a href=' + PREFIX + '>all numbers</a>' if selected else ''}</h2>"
            "<table><thead><tr><th>Time</th><th>To</th><th>Provider</th><th>Content</th><th>Sign</th>"
            "<th>Segments</th><th>Status</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>"
            f"{pager(page, pages, {**link, 'numbers_page': str(npage)}, 'page')}</section>"
            f"{self._campaigns_section()}{self._verifications_section(all_)}"
        )

    def _row(self, d: Delivery, view: dict[str, Any] | None) -> str:
        segments = count_segments(d.content)
        status = str(view["status"]) if view else "not recorded"
        kind = " <span class=tag>verification</span>" if d.kind == "verification" else ""
        return (
            f"<tr class=message data-status={escape(status)}><td>{when(d.at)}</td>"
            f'<td><a href="{PREFIX}?{urlencode({"number": d.number})}">{escape(d.number)}</a></td>'
            f"<td>{escape(d.provider)}</td>"
            f'<td class=content><a href="{PREFIX}/message?{urlencode(d.handle)}">'
            f"{escape(d.content)}</a>{kind}</td>"
            f"<td>{escape(sign_of(d.content))}</td>"
            f"<td>{segments.count} ({escape(segments.encoding)})</td>"
            f"<td><span class='status {escape(status)}'>{escape(status)}</span></td></tr>"
        )

    def _campaigns_section(self) -> str:
        self._scan()
        if not self._campaigns:
            return ""
        counts = ("total", "invalid", "blocked", "submitted", "unknown", "rejected")
        rows = "".join(
            f"<tr><td>{escape(str(c['pk']).split('#', 1)[1])}</td><td>{escape(c.get('kind'))}</td>"
            f"<td>{escape(c.get('state'))}</td>"
            + "".join(f"<td>{int(c.get(f'n_{n}', 0))}</td>" for n in counts)
            + "</tr>"
            for c in self._campaigns[:PAGE_SIZE]
        )
        head = "".join(f"<th>{n}</th>" for n in ("Campaign", "Kind", "State", *counts))
        return f"<section class=campaigns><h2>Campaigns</h2><table><tr>{head}</tr>{rows}</table></section>"

    def _verifications_section(self, deliveries: list[Delivery]) -> str:
        codes = [d for d in reversed(deliveries) if d.kind == "verification"][:10]
        if not codes:
            return ""
        rows = "".join(
            f"<tr><td>{when(d.at)}</td><td>{escape(d.number)}</td><td>{escape(d.provider)}</td>"
            f"<td>{escape(d.content)}</td></tr>"
            for d in codes
        )
        return (
            "<section class=verifications><h2>Verification codes</h2><table><tr><th>Time</th><th>To</th>"
            f"<th>Provider</th><th>Content</th></tr>{rows}</table></section>"
        )

    def message(self, query: dict[str, str]) -> tuple[int, str]:
        found = [
            d
            for d in self.deliveries()
            if d.handle == {k: query.get(k, "") for k in ("provider", "ref", "number")}
        ]
        if not found:
            return 404, "<p>No such message in the sandboxes.</p>"
        d = found[0]
        name = next(n for n, p in PROVIDERS.items() if p == d.provider)
        sandbox = self.sandboxes()[name]
        request = sandbox.recorded()[d.request]
        view = self.statuses([d]).get(d)
        message_id = self.message_id(d)
        items: list[dict[str, Any]] = []
        ref = parse_message_id(message_id) if message_id else None
        if ref is not None:
            items = message_store().get_all(
                [
                    {"pk": request_pk(ref.provider, ref.key), "sk": REQUEST},
                    {"pk": status_pk(ref.provider, ref.nkey), "sk": ref.key},
                ]
            )
        segments = count_segments(d.content)
        facts = {
            "To": d.number,
            "Provider": d.provider,
            "Content": d.content,
            "Sign": sign_of(d.content),
            "Segments": f"{segments.count} ({segments.encoding}, {segments.units} units)",
            "Received": when(d.at),
            "Gateway message id": message_id or "not recorded yet",
            "Status": str(view["status"]) if view else "not recorded",
            "Provider status": (view or {}).get("provider_status") or "",
            "Delivered at": (view or {}).get("delivered_at") or "",
        }
        rows = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in facts.items())
        return 200, (
            f'<p><a href="{PREFIX}?{urlencode({"number": d.number})}">← inbox of {escape(d.number)}</a></p>'
            f"<table class=facts>{rows}</table>"
            f"<h2>Provider request <small>{escape(request.path)} at {when(request.at)}</small></h2>"
            f"<pre class=request>{json_block(masked_body(request.body))}</pre>"
            f"<h2>Provider answer <small>HTTP {escape(request.status)}</small></h2>"
            f"<pre class=answer>{json_block(request.answer)}</pre>"
            f"<h2>Receipts and polled statuses</h2>{self._news(d, sandbox)}"
            f"<h2>DynamoDB items</h2><pre class=items>{json_block(items) if items else 'none yet'}</pre>"
        )

    def _news(self, d: Delivery, sandbox: SandboxServer) -> str:
        """The 230sms receipts pushed for it (each attempt), or the cmessages query answers naming it."""
        rows: list[tuple[float, str, str]] = []
        if d.provider == "230sms":
            for attempt in getattr(sandbox, "receipt_attempts", []):
                body = attempt.body
                if body.get("taskid") == d.ref and e164_of(str(body.get("mobile")), d.provider) == d.number:
                    outcome = "taken" if attempt.ok else "refused or failed"
                    rows.append(
                        (
                            attempt.at,
                            f"{body.get('status')} at {body.get('times')}",
                            f"push #{attempt.attempt_no}: {outcome}",
                        )
                    )
        else:
            for r in sandbox.recorded("/sms/query"):
                for entry in r.answer if isinstance(r.answer, list) else []:
                    if isinstance(entry, dict) and entry.get("id") == d.ref:
                        rows.append((r.at, f"message_status {entry.get('message_status')}", "polled"))
        if not rows:
            return "<p>None yet.</p>"
        body = "".join(
            f"<tr><td>{when(at)}</td><td>{escape(what)}</td><td>{escape(how)}</td></tr>"
            for at, what, how in rows
        )
        return f"<table class=receipts><tr><th>Time</th><th>Status</th><th>How</th></tr>{body}</table>"

    # -- fault switches ----------------------------------------------------------------------------

    FAULTS: ClassVar[dict[str, tuple[str, dict[str, Any]]]] = {  # form value -> (label, fault)
        "timeout": ("Timeout (taken, answered too late)", {"kind": "timeout"}),
        "status_500": ("HTTP 500", {"kind": "status_500"}),
        "malformed": ("Garbage answer", {"kind": "malformed"}),
        "drop": ("Hang up", {"kind": "drop"}),
    }
    CODES: ClassVar[dict[str, tuple[int, str]]] = {
        "sms230": (105, "account rate limit"),
        "cmessages": (1011, "system error"),
    }

    def switches(self) -> str:
        forms = []
        for name, sandbox in self.sandboxes().items():
            provider = PROVIDERS[name]
            settings = {k: getattr(sandbox, k) for k in sandbox.settings()}
            active = ", ".join(f.kind for f in sandbox.faults.active()) or "none"
            buttons = "".join(
                f"<button name=action value={k}>{escape(label)}</button>"
                for k, (label, _) in self.FAULTS.items()
            )
            code, meaning = self.CODES[name]
            buttons += f"<button name=action value=code>Code {code} ({meaning})</button>"
            extra = ""
            if name == "sms230":
                dropped = "checked" if settings.get("receipts_dropped") else ""
                extra = (
                    "<label>Receipt delay (s) "
                    f"<input name=receipt_delay value={escape(settings.get('receipt_delay'))}></label>"
                    f"<label><input type=checkbox name=receipts_dropped value=1 {dropped}> "
                    "Drop receipts</label>"
                )
            else:
                sending = settings.get("status_delays", (0, 0))[1]
                extra = (
                    f"<label>Final status after (s) <input name=status_after value={escape(sending)}></label>"
                )
            refused = " ".join(sorted(settings.get("bad_numbers", ())))
            forms.append(
                f'<form method=post action="{PREFIX}/faults" class=switch data-provider={escape(provider)}>'
                f"<h3>{escape(provider)} sandbox</h3><input type=hidden name=sandbox value={escape(name)}>"
                f"<input type=hidden name=token value={escape(self.token)}>"
                f"<p>Next request: {buttons} <button name=action value=clear>Clear faults</button> "
                f"<span class=active>active: {escape(active)}</span></p>"
                "<p><label>Refuse numbers (as sent) "
                f"<input name=bad_numbers value='{escape(refused)}'></label> {extra} "
                f"<button name=action value=settings>Apply</button></p></form>"
            )
        return f"<section class=faults><h2>Fault switches</h2>{''.join(forms)}</section>"

    def switch(self, form: dict[str, str]) -> str | None:
        """Apply one switch; a problem's text, or None."""
        name = form.get("sandbox", "")
        sandbox = self.sandboxes().get(name)
        if sandbox is None:
            return f"no sandbox {name!r}"
        action = form.get("action", "")
        try:
            if action in self.FAULTS:
                sandbox.faults.inject(**self.FAULTS[action][1], times=1)
            elif action == "code":
                sandbox.faults.inject("error_code", code=self.CODES[name][0], times=1)
            elif action == "clear":
                sandbox.faults.clear()
            elif action == "settings":
                sandbox.bad_numbers = form.get("bad_numbers", "").split()  # type: ignore[attr-defined]
                if name == "sms230":
                    sandbox.receipt_delay = float(form.get("receipt_delay") or 0)  # type: ignore[attr-defined]
                    sandbox.receipts_dropped = form.get("receipts_dropped") == "1"  # type: ignore[attr-defined]
                else:
                    after = float(form.get("status_after") or 0)
                    sandbox.status_delays = (after / 2, after)  # type: ignore[attr-defined]
            else:
                return f"unknown action {action!r}"
        except (ValueError, TypeError) as error:
            return str(error)
        return None


# -- rendering helpers -----------------------------------------------------------------------------
