"""The console's pages as HTML: every value escaped (message content is user input), one style,
and the few lines of script that refresh a page's live region; served under a nonce-only
Content-Security-Policy."""

import html
import json
import secrets
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from ..gateway import Reply

PREFIX = "/_console"
PAGE_SIZE = 50


def escape(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def json_block(value: Any) -> str:
    return escape(json.dumps(value, indent=2, ensure_ascii=False, default=str, sort_keys=True))


def when(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%H:%M:%S.%f")[:-3] + "Z"


def sign_of(content: str) -> str:
    """The sender's sign, 【…】 at the start or the end of the content."""
    text = content.strip()
    if text.startswith("【") and "】" in text:
        return text[1 : text.index("】")]
    if text.endswith("】") and "【" in text:
        return text[text.rindex("【") + 1 : -1]
    return ""


def current(yes: bool) -> str:
    return " aria-current=page" if yes else ""


def page_of(raw: str | None, total: int) -> tuple[int, int]:
    pages = max(1, -(-total // PAGE_SIZE))
    try:
        page = int(raw or 1)
    except ValueError:
        page = 1
    return min(max(1, page), pages), pages


def pager(page: int, pages: int, keep: dict[str, str], name: str) -> str:
    if pages <= 1:
        return ""

    def link(to: int, label: str) -> str:
        return f'<a href="{PREFIX}?{urlencode({**keep, name: str(to)})}" rel={label.lower()}>{label}</a>'

    back = link(page - 1, "Previous") if page > 1 else ""
    forward = link(page + 1, "Next") if page < pages else ""
    return f"<nav class=pager data-for={name}>{back} page {page} of {pages} {forward}</nav>"


STYLE = """
body{font:14px system-ui,sans-serif;margin:0 1.5rem 2rem;color:#1d2733}
header{display:flex;gap:1rem;align-items:baseline;border-bottom:1px solid #dde;margin-bottom:1rem}
#live{display:grid;grid-template-columns:16rem 1fr;gap:1.5rem}
#live>section.campaigns,#live>section.verifications,#live>p,#live>table,#live>h2,#live>pre{grid-column:1/-1}
table{border-collapse:collapse;width:100%}
td,th{border-bottom:1px solid #eef;padding:.3rem .5rem;text-align:left;vertical-align:top}
td.content{max-width:32rem;white-space:pre-wrap;word-break:break-word}
ul{list-style:none;padding:0}
li{padding:.2rem 0}
.count{color:#667;font-weight:normal}
.status{padding:.1rem .4rem;border-radius:.3rem;background:#eef}
.delivered{background:#d9f5e0}
.failed,.rejected{background:#fbdcdc}
.unknown{background:#fff1c2}
.tag{font-size:11px;background:#e5e9ff;padding:0 .3rem}
pre{background:#f6f7fb;padding:.6rem;overflow:auto;max-height:24rem}
form.switch{border:1px solid #dde;padding:.5rem 1rem;margin:.5rem 0}
input{width:9rem}
input[type=checkbox]{width:auto}
"""

SCRIPT = """
const live = document.getElementById('live');
async function refresh() {
  if (document.hidden) return;
  const url = new URL(location.href); url.searchParams.set('fragment', '1');
  try {
    const answer = await fetch(url, {cache: 'no-store'});
    const html = await answer.text();
    if (html !== live.dataset.last) { live.innerHTML = html; live.dataset.last = html; }
  } catch (e) { /* the stack stopped: try again next time */ }
}
setInterval(refresh, 1000);
"""


def html_page(status: int, title: str, body: str, live: bool = False) -> Reply:
    """A whole page; `live`: with the script that refreshes its live region every second."""
    nonce = secrets.token_urlsafe(16)
    document = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{escape(title)} · SMS gateway console</title><style>{STYLE}</style></head><body>"
        f'<header><h1><a href="{PREFIX}">SMS inbox</a></h1><span>local stack console: what the sandboxes '
        f'delivered, and what the gateway recorded · <a href="{PREFIX}/webhooks">webhooks</a></span></header>'
        f"{body}{f'<script nonce={nonce}>{SCRIPT}</script>' if live else ''}</body></html>"
    )
    headers = [
        ("Content-Type", "text/html; charset=utf-8"),
        # Nothing but this page's own script and style; content shown is text, never markup.
        (
            "Content-Security-Policy",
            f"default-src 'self'; script-src 'nonce-{nonce}'; style-src 'unsafe-inline'",
        ),
        ("Cache-Control", "no-store"),
    ]
    return Reply(status, headers, document.encode())
