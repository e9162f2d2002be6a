"""The local console in a real browser: headless Chromium from the system packages, driven by
Playwright's Python API, against the local stack running as `make run` runs it."""

import re
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.client import RunningStack, running_stack

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None:
    pytest.skip(
        "no system Chromium (Debian package `chromium`; `make test` installs it where it can): "
        "the console's browser tests need it",
        allow_module_level=True,
    )
sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

# As the machine's own probe runs it: as root, and on a closed network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 15_000  # how long an expectation may wait on this shared machine (not a target)


@pytest.fixture(scope="module")
def stack() -> Iterator[RunningStack]:
    with running_stack({}) as running:  # one time zone: the pages are what is tested here
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        yield context.new_page()
    finally:
        context.close()


def send(stack: RunningStack, to: list[str], content: str, provider: str = "230sms") -> dict[str, Any]:
    answer = stack.api("POST", "/sms/send", {"to": to, "content": content, "provider": provider})
    assert answer.status in (200, 202), answer.text  # 202: some outcome unknown
    body: dict[str, Any] = answer.json()
    return body


def test_the_banner_prints_the_console_on_a_line_of_its_own(stack: RunningStack) -> None:
    assert stack.info["console_url"] == stack.api_url + "/_console"


def test_a_sent_message_appears_and_its_receipt_turns_it_delivered(stack: RunningStack, page: Any) -> None:
    page.goto(stack.info["console_url"])  # open before the send: the page must update by itself
    expect(page.locator("h1")).to_have_text("SMS inbox")
    send(stack, ["+8613811110001"], "Your parcel 42 has shipped")
    row = page.locator("tr.message", has_text="Your parcel 42 has shipped")
    expect(row).to_have_count(1, timeout=WAIT_MS)
    expect(row).to_contain_text("+8613811110001")
    expect(row).to_contain_text("230sms")
    expect(row).to_contain_text("1 (GSM-7)")
    expect(row.locator(".status")).to_have_text("delivered", timeout=WAIT_MS)

    page.get_by_role("link", name="+8613811110001").first.click()
    expect(page.locator("section.messages h2")).to_contain_text("Inbox of +8613811110001")
    row.get_by_role("link").last.click()  # the content links to the message view
    expect(page.locator("table.facts")).to_contain_text("delivered", timeout=WAIT_MS)
    expect(page.locator("pre.answer")).to_contain_text("taskid")
    request = page.locator("pre.request").inner_text()
    assert '"sign": "' in request and re.search(r'"sign": "[0-9a-f]{4}…"', request), request
    expect(page.locator("table.receipts")).to_contain_text("DELIVRD")
    expect(page.locator("pre.items")).to_contain_text('"sk": "REQ"')


def test_content_is_shown_as_text_never_run(stack: RunningStack, page: Any) -> None:
    hostile = '<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2"><b>bold</b>'
    send(stack, ["+8613811110002"], hostile)
    page.goto(stack.info["console_url"] + "?number=%2B8613811110002")
    cell = page.locator("tr.message td.content").first
    expect(cell).to_contain_text(hostile, timeout=WAIT_MS)
    assert cell.locator("b, img, script").count() == 0
    page.wait_for_timeout(1500)  # a live refresh or two, which swap the region in again
    assert page.evaluate("window.pwned") is None
    expect(cell).to_contain_text(hostile)


def test_a_fault_switch_changes_the_next_sends_outcome(stack: RunningStack, page: Any) -> None:
    page.goto(stack.info["console_url"])
    switch = page.locator("form.switch[data-provider='230sms']")
    switch.get_by_role("button", name="Garbage answer").click()
    expect(page.locator("form.switch[data-provider='230sms'] .active")).to_have_text("active: malformed")
    body = send(stack, ["+8613811110003"], "sent into a garbled answer")
    assert [m["status"] for m in body["messages"]] == ["unknown"], body  # taken, or not: never resent
    assert send(stack, ["+8613811110003"], "the next one")["messages"][0]["status"] == "submitted"

    page.goto(stack.info["console_url"])
    switch = page.locator("form.switch[data-provider='230sms']")
    switch.get_by_label("Refuse numbers (as sent)").fill("8613811110004")
    switch.get_by_role("button", name="Apply").click()
    refused = stack.api(
        "POST", "/sms/send", {"to": ["+8613811110004"], "content": "no", "provider": "230sms"}
    )
    assert refused.status >= 400 and "104" in refused.text, refused.text
    page.goto(stack.info["console_url"])
    page.locator("form.switch[data-provider='230sms']").get_by_label("Refuse numbers (as sent)").fill("")
    page.locator("form.switch[data-provider='230sms']").get_by_role("button", name="Apply").click()
    assert stack.sandbox("sms230", "GET", "/_sandbox/settings")["bad_numbers"] == []


def test_a_bulk_send_is_paged(stack: RunningStack, page: Any) -> None:
    numbers = [f"+86139{n:08d}" for n in range(1500)]
    send(stack, numbers, "Flash sale starts at noon", provider="cmessages")
    page.goto(stack.info["console_url"])
    expect(page.locator("#numbers-count")).to_have_text(re.compile(r"^1[5-9]\d\d$"), timeout=WAIT_MS)
    expect(page.locator("section.messages tr.message")).to_have_count(50)
    expect(page.locator("nav.pager[data-for=page]")).to_contain_text("page 1 of")
    page.locator("nav.pager[data-for=page]").get_by_role("link", name="Next").click()
    expect(page.locator("nav.pager[data-for=page]")).to_contain_text("page 2 of")
    expect(page.locator("section.messages tr.message", has_text="Flash sale")).to_have_count(50)
    # The gateway's ids for cmessages come from its records: every row on the page has a status.
    expect(page.locator("section.messages tr.message[data-status='not recorded']")).to_have_count(
        0, timeout=WAIT_MS
    )


def test_campaigns_and_verification_codes_are_shown_when_present(stack: RunningStack, page: Any) -> None:
    page.goto(stack.info["console_url"])
    expect(page.locator("section.verifications")).to_have_count(0)  # none yet: no empty section
    code = stack.api("POST", "/sms/verify-code", {"to": "13811110005", "content": "Your code is 271828"})
    assert code.status == 200, code.text
    created = stack.api(
        "POST",
        "/sms/campaigns",
        {"content": "Weekend sale", "kind": "notification", "provider": "230sms", "to": ["13811110006"]},
    )
    assert created.status == 202, created.text
    campaign_id = created.json()["campaign_id"]
    codes = page.locator("section.verifications")
    expect(codes).to_contain_text("Your code is 271828", timeout=WAIT_MS)
    expect(codes).to_contain_text("+8613811110005")
    campaign = page.locator("section.campaigns tr", has_text=campaign_id)
    expect(campaign).to_contain_text("done", timeout=WAIT_MS)  # the planner and sender ran
    expect(page.locator("tr.message", has_text="Weekend sale")).to_contain_text("+8613811110006")


def test_the_console_answers_only_when_addressed_to_this_machine(stack: RunningStack) -> None:
    """DNS rebinding: a page of another site whose name resolves to 127.0.0.1 reaches the port, with
    its own name as Host. The console (numbers, codes, fault switches) refuses it."""
    console = stack.info["console_url"]
    assert stack.request("GET", console).status == 200
    refused = stack.request("GET", console, headers={"Host": "rebound.example:3000"})
    assert refused.status == 403 and "127.0.0.1 or localhost" in refused.text


def test_a_fault_switch_without_this_runs_token_is_refused(stack: RunningStack) -> None:
    console = stack.info["console_url"]
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    forged = stack.request("POST", f"{console}/faults", "sandbox=sms230&action=malformed", form)
    assert forged.status == 403
    page = stack.request("GET", console).text
    assert "active: malformed" not in page  # nothing switched
    token = re.search(r"name=token value=([\w-]+)", page)
    assert token is not None
    switched = stack.request(
        "POST", f"{console}/faults", f"sandbox=sms230&action=clear&token={token[1]}", form
    )
    assert switched.status == 303
