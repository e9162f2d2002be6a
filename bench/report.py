"""One table from every measurement: rows, targets, PASS/FAIL; rendered for stdout and for Markdown."""

import math
from dataclasses import dataclass
from typing import Any

from smsgw.platform import config

from . import machine
from .aws_faults import FaultRun
from .bulk import Baseline, ClientRun, HandlerRun
from .campaign import CampaignRun
from .coldstart import HANDLERS, TARGET_RATIO, ColdStart
from .console import ConsoleRun
from .dynamo import expected_send_calls, rate_asks_fit
from .endtoend import EndToEnd
from .lifecycle import Lifecycle
from .pumping import ATTACK_TARGET, LEGIT_TARGET, Pumping
from .warm import WarmRun
from .webhooks import WebhookRun

SPEEDUP_TARGET = 50
MINIMUM_TARGET = 1.25
TARGET_SIZE = 10_000
COLUMNS = ("Area", "Case", "Measured", "Reference", "Target", "Check")


@dataclass
class Row:
    area: str
    case: str
    measured: str
    reference: str
    target: str = ""
    check: str = ""  # PASS / FAIL / "" (information only)

    def cells(self) -> tuple[str, ...]:
        return (self.area, self.case, self.measured, self.reference, self.target, self.check)


def _n(value: float) -> str:
    return f"{value:,.0f}"


def _s(seconds: float) -> str:
    if seconds >= 100:
        return f"{seconds:,.0f} s"
    if seconds >= 1:
        return f"{seconds:.2f} s"
    return f"{seconds:.3f} s"


def _check(*conditions: tuple[bool, str]) -> str:
    failed = [name for ok, name in conditions if not ok]
    return "PASS" if not failed else "FAIL (" + "; ".join(failed) + ")"


def bulk_rows(runs: list[ClientRun], baselines: dict[str, Baseline]) -> list[Row]:
    rows = []
    for run in runs:
        baseline = baselines[run.provider]
        speedup = baseline.estimate(run.n) / run.wall_s
        vs_min = run.wall_s / run.physical_min_s
        if run.provider == "230sms":
            minimum = f"min {_s(run.physical_min_s)} (k-1)/100 s+50 ms"
        else:
            minimum = (
                f"min {_s(run.physical_min_s)} ceil(k/{run.concurrency})x50 ms (real cap/limits undocumented)"
            )
        reference = (
            f"{minimum} -> {vs_min:.2f}x; per-number est. {_s(baseline.estimate(run.n))} -> {speedup:,.0f}x"
        )
        targets = [(run.requests == run.expected_requests == run.client_requests, "requests")]
        target = f"k = ceil(n/{run.cap}) = {run.expected_requests}"
        if run.n == TARGET_SIZE:
            targets += [
                (speedup >= SPEEDUP_TARGET, f"<{SPEEDUP_TARGET}x"),
                (vs_min <= MINIMUM_TARGET, "vs min"),
            ]
            target += f"; >= {SPEEDUP_TARGET}x per-number; <= {MINIMUM_TARGET}x min"
        targets.append((run.failed == 0 and run.accepted == run.n, "not all accepted"))
        rows.append(
            Row(
                "1 bulk (i) client",
                f"{run.provider} n={_n(run.n)} (cap {run.cap}, concurrency {run.concurrency})",
                f"k={run.requests} req, {_s(run.wall_s)}, {_n(run.n / run.wall_s)} rcpt/s",
                reference,
                target,
                _check(*targets),
            )
        )
    for provider, baseline in baselines.items():
        rows.append(
            Row(
                "1 bulk baseline",
                f"{provider} per-number client (new connection per call, 1 number/request, sequential)",
                f"{baseline.sample} numbers in {_s(baseline.wall_s)}"
                f" = {1000 * baseline.per_number_s:.1f} ms/number",
                f"{baseline.requests} requests; extrapolated linearly to n (estimate, not run)",
                "",
                "" if baseline.ok == baseline.sample else "FAIL (refused)",
            )
        )
    return rows


def handler_rows(runs: list[HandlerRun], caps: dict[str, int]) -> list[Row]:
    rows = []
    for run in runs:
        phases = run.phases_s
        expected = math.ceil(run.n / caps[run.provider])
        split = (
            f"provider {_s(phases.get('provider', 0))}; DynamoDB record {_s(phases.get('record', 0))}"
            f"; blocklist read {_s(phases.get('blocklist', 0))}; quota {_s(phases.get('quota', 0))}"
            f"; parse {_s(phases.get('parse', 0))}; other {_s(phases.get('other', 0))}"
        )
        ok = run.status == 200 and run.summary.get("submitted") == run.n
        rows.append(
            Row(
                "1 bulk (ii) handler",
                f"{run.provider} n={_n(run.n)} via send handler (Moto in-process: slower than DynamoDB)",
                f"k={run.requests} req, {_s(run.wall_s)}, {_n(run.n / run.wall_s)} rcpt/s",
                split,
                f"k = ceil(n/{caps[run.provider]}) = {expected}",
                _check((run.requests == expected, "requests"), (ok, f"HTTP {run.status}")),
            )
        )
    rows.append(
        Row(
            "1 bulk (ii) handler",
            "n=100,000 via the API",
            "not run",
            "MAX_RECIPIENTS = 10,000 per request and API Gateway's 29 s limit: measured at the client only",
            "",
            "",
        )
    )
    return rows


def end_to_end_rows(runs: list[EndToEnd]) -> list[Row]:
    return [
        Row(
            "1 bulk (iii) local stack",
            f"{run.provider} n={_n(run.n)} HTTP in, answer out (Moto server, Lambda worker)",
            f"{run.median_s:.2f} s median of {len(run.walls_s)}"
            f" ({', '.join(f'{w:.2f}' for w in run.walls_s)});"
            f" {_n(run.submitted)} submitted; answer {run.answer_bytes / 1e6:.2f} MB",
            f"min {run.minimum_s:.2f} s -> {run.median_s / run.minimum_s:.1f}x",
            "<= 2x min",
            _check(
                (
                    run.median_s <= 2 * run.minimum_s and set(run.statuses) == {200},
                    f"{run.median_s / run.minimum_s:.1f}x",
                )
            ),
        )
        for run in runs
    ]


def lifecycle_rows(life: Lifecycle) -> list[Row]:
    lookup = ", ".join(f"{k} x{v}" for k, v in life.lookup_calls.items())
    return [
        Row(
            "2 DynamoDB",
            f"230sms messages over their life: {_n(life.messages)} sent, a receipt each, window closed",
            f"{life.writes_per_message:.3f} writes per delivered message ({life.send_writes} send +"
            f" {_n(life.receipt_writes)} receipts + {life.close_writes} closes);"
            f" {life.units_per_message:.3f} write units each",
            f"Pending index after the send: {life.index_items_open} items"
            f" for {life.requests} provider requests",
            "<= 1.1 writes per delivered message; index items = open requests",
            _check(
                (life.writes_per_message <= 1.1, "writes"),
                (life.index_items_open == life.requests, "index"),
            ),
        ),
        Row(
            "2 DynamoDB",
            "status lookup (GET /sms/messages/{id})",
            f"{lookup}: {life.lookup_keys} items read",
            "the message's status item and its request's item",
            "<= 2 reads",
            _check((life.lookup_keys <= 2 and set(life.lookup_calls) == {"BatchGetItem"}, "reads")),
        ),
    ]


def dynamodb_rows(handler_runs: list[HandlerRun], receipt: WarmRun | None, poll: dict[str, Any]) -> list[Row]:
    rows = []
    by_n: dict[int, list[HandlerRun]] = {}
    for run in handler_runs:
        by_n.setdefault(run.n, []).append(run)
    for n, runs in by_n.items():
        expected = {
            run.provider: expected_send_calls(n, run.requests, run.provider == "230sms") for run in runs
        }
        rows.append(
            Row(
                "2 DynamoDB",
                f"send n={_n(n)} ({', '.join(r.provider for r in runs)})",
                " / ".join(
                    f"{run.provider}: {', '.join(f'{k} {v}' for k, v in run.dynamodb.items())};"
                    f" {_n(run.written)} items written ({_n(run.put_units)} write units)"
                    for run in runs
                ),
                "answer " + " / ".join(f"{run.answer_bytes / 1e6:.2f} MB" for run in runs),
                "items written = provider requests (230sms ceil(n/1000), cmessages ceil(n/100));"
                " BatchWriteItem ceil(requests/25), 1 BatchGetItem (the blocklist set), 1 TransactWriteItems;"
                " 230sms: asks for rate places (UpdateItem), shared by requests waiting together",
                _check(
                    *(
                        (
                            {k: v for k, v in run.dynamodb.items() if k != "UpdateItem"}
                            == dict(sorted(expected[run.provider].items()))
                            and rate_asks_fit(run.dynamodb, run.provider == "230sms")
                            and run.written - run.dynamodb.get("UpdateItem", 0) == run.requests,
                            run.provider,
                        )
                        for run in runs
                    )
                ),
            )
        )
    if receipt is not None:
        shapes = receipt.dynamodb
        total = len(receipt.totals)
        one_write = sum(n for shape, n in shapes.items() if shape.endswith("UpdateItem x1")) == total
        reads = sum(n for shape, n in shapes.items() if "GetItem" in shape)
        every = config.Settings.receipt_latency_read_every  # the default: the bench sets none
        rows.append(
            Row(
                "2 DynamoDB",
                "per 230sms receipt (callback handler)",
                "; ".join(f"{shape} in {count}/{total}" for shape, count in shapes.items()),
                "no read before the write; the GetItem is the delivery-latency sample (its submission"
                " time, kept for the request's other receipts)",
                f"one UpdateItem each; reads <= 1 in {every} (RECEIPT_LATENCY_READ_EVERY)",
                _check((one_write and reads * every <= total, "calls")),
            )
        )
    cycles = poll["cycles"]
    empty, full = cycles[0], cycles[-1]
    same = empty["ops"] == full["ops"] and empty["items_scanned"] == full["items_scanned"]
    follows = full["items_scanned"] == full["items_count"] == -(-poll["pending"] // 100)
    queries = full["ops"].get("Query", 0)
    rows.append(
        Row(
            "2 DynamoDB",
            f"poller cycle: {_n(poll['history'])} settled + {_n(poll['pending'])} pending",
            f"{queries} Query ({poll['shards']} shards x 2 providers"
            " + 3 for partly taken and unknown requests),"
            f" items read {_n(full['items_count'])}"
            f" (scanned {_n(full['items_scanned'])}); other calls "
            + (", ".join(f"{k} {v}" for k, v in full["ops"].items() if k != "Query") or "none"),
            f"same cycle with 0 settled: {empty['ops'].get('Query', 0)} Query,"
            f" {_n(empty['items_count'])} items",
            "reads follow open provider requests (pending/100), not history",
            _check((same and follows, "reads")),
        )
    )
    return rows


def cold_rows(cold: ColdStart) -> list[Row]:
    """The check is on CPU time: on a shared machine, wall time also counts waiting for a core."""
    boto3, boto3_cpu = cold.median("boto3"), cold.median("boto3", cpu=True)
    shipped_cpu = cold.median("boto3:bytecode", cpu=True)
    rows = [
        Row(
            "3 cold start",
            "import boto3 alone, the build without bytecode (the baseline)",
            f"{1000 * boto3_cpu:.0f} ms CPU ({1000 * boto3:.0f} ms wall)",
            f"median of {cold.runs} fresh processes",
            "",
            "",
        ),
        Row(
            "3 cold start",
            "import boto3 alone, with the layer's bytecode",
            f"{1000 * shipped_cpu:.0f} ms CPU = {shipped_cpu / boto3_cpu:.2f}x",
            f"median of {cold.runs} fresh processes",
            "",
            "",
        ),
    ]
    for handler in HANDLERS:
        key, compiled = f"deployed:{handler}", f"compiled:{handler}"
        cpu, wall = cold.median(key, cpu=True), cold.median(key)
        compiled_cpu = cold.median(compiled, cpu=True)
        rows.append(
            Row(
                "3 cold start",
                f"functions/{handler} (as deployed)",
                f"{1000 * cpu:.0f} ms CPU = {cpu / boto3_cpu:.2f}x"
                f" ({1000 * wall:.0f} ms wall = {wall / boto3:.2f}x)",
                f"{cpu / shipped_cpu:.2f}x boto3 with bytecode; handler precompiled too:"
                f" {1000 * compiled_cpu:.0f} ms CPU = {compiled_cpu / boto3_cpu:.2f}x",
                f"<= {TARGET_RATIO}x boto3 without bytecode",
                _check((cpu <= TARGET_RATIO * boto3_cpu, f"{cpu / boto3_cpu:.2f}x")),
            )
        )
    return rows


def warm_rows(runs: list[WarmRun]) -> list[Row]:
    rows = []
    for run in runs:
        s = run.summary()
        rows.append(
            Row(
                "4 warm overhead",
                f"{run.handler}: {run.what}",
                f"{s['overhead_median_ms']:.2f} ms median (p90 {s['overhead_p90_ms']:.2f})",
                f"raw {s['raw_median_ms']:.2f} ms incl. botocore+Moto {s['aws_median_ms']:.2f},"
                f" provider HTTP {s['provider_http_median_ms']:.2f}, pacer {s['pacer_median_ms']:.2f}",
                "",
                "" if set(s["statuses"]) == {200} else f"FAIL (HTTP {sorted(s['statuses'])})",
            )
        )
    return rows


def render(rows: list[Row]) -> str:
    """A pipe table: aligned for the terminal, and valid Markdown."""
    cells = [COLUMNS, *(tuple(cell.replace("|", "/") for cell in row.cells()) for row in rows)]
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]

    def line(values: tuple[str, ...]) -> str:
        return "| " + " | ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(cells[0]), rule, *(line(c) for c in cells[1:])])


def title(info: dict[str, Any], elapsed_s: float | None = None) -> str:
    text = machine.line(info)
    return text + (f"; bench run time {elapsed_s:.0f} s" if elapsed_s is not None else "")


def pumping_rows(run: Pumping) -> list[Row]:
    return [
        Row(
            "5 SMS pumping",
            f"attack: {_n(run.attack_requests)} code requests, one address, sequential numbers, unchecked",
            f"{_n(run.attack_requests - run.attack_sent)} refused before a provider"
            f" ({100 * run.attack_refused_share:.1f}%)",
            f"{_n(run.attack_sent)} reached a provider",
            f">= {100 * ATTACK_TARGET:.0f}% refused",
            _check((run.attack_refused_share >= ATTACK_TARGET, f"{100 * run.attack_refused_share:.1f}%")),
        ),
        Row(
            "5 SMS pumping",
            f"users in the same run: {run.legit_users} random numbers, each checking its code",
            f"{run.legit_approved} sent and approved ({100 * run.legit_share:.1f}%)",
            f"{run.legit_sent} sent",
            f">= {100 * LEGIT_TARGET:.0f}% approved",
            _check((run.legit_share >= LEGIT_TARGET, f"{100 * run.legit_share:.1f}%")),
        ),
    ]


def campaign_rows(run: CampaignRun) -> list[Row]:
    counts = run.counts
    every = counts.get("submitted", 0) + counts.get("unknown", 0) + counts.get("rejected", 0)
    return [
        Row(
            "6 campaign",
            f"{_n(run.n)} recipients, 230sms (50 ms a request, 100 requests/s), local stack",
            f"{run.wall_s:.1f} s from start to {run.state} (planned in {run.planned_s:.1f} s);"
            f" {_n(run.sandbox_requests)} provider requests",
            f"min {run.minimum_s:.1f} s -> {run.wall_s / run.minimum_s:.2f}x",
            "<= 1.5x min",
            _check(
                (
                    run.state == "done" and run.wall_s <= 1.5 * run.minimum_s,
                    f"{run.wall_s / run.minimum_s:.2f}x",
                )
            ),
        ),
        Row(
            "6 campaign",
            "every number a status, none sent twice",
            f"{_n(every)} of {_n(run.n)} with a status; {_n(run.numbers_sent)} numbers reached the provider,"
            f" {_n(run.numbers_sent_twice)} of them twice",
            f"counts {counts}",
            "all; none twice",
            _check((every == run.n and run.numbers_sent_twice == 0, f"{run.numbers_sent_twice} twice")),
        ),
        Row(
            "6 campaign",
            "the account's rate across 4 concurrent senders",
            f"at most {run.max_requests_in_a_second} requests in any one second;"
            f" {run.answered_105} answered 105",
            "the sandbox's own arrival times",
            "<= 100 a second, no 105",
            _check((run.max_requests_in_a_second <= 100 and run.answered_105 == 0, "rate")),
        ),
    ]


def aws_fault_rows(run: FaultRun) -> list[Row]:
    injected = ", ".join(f"{count} {name}" for name, count in sorted(run.injected.items()))
    area, faults = "8 AWS unwell", f"AWS_FAULTS={run.faults}"
    return [
        Row(
            area, f"faults injected ({faults})", injected or "none", "botocore's before-send, every container"
        ),
        Row(
            area,
            f"{_n(run.send_numbers)}-number send",
            f"HTTP {run.send_status}, {_n(run.send_answered)} numbers answered, {run.send_double} sent twice",
            "the 230sms sandbox's requests",
            "0 twice",
            _check((run.send_status == 200 and run.send_double == 0, f"{run.send_double} twice")),
        ),
        Row(
            area,
            f"{_n(run.receipts)}-receipt flood (16 pushes at a time)",
            f"{run.receipts_lost} lost, {run.receipts_given_up} given up by 230sms,"
            f" {run.callback_5xx} callback 5xx ({run.callback_not_stored} a write failed past retries);"
            f" all pushed in {run.receipts_seconds:.0f} s",
            "every message's status read back",
            "0 lost, 0 given up; a 5xx only for a write failed past retries",
            _check(
                (
                    run.receipts_lost == 0
                    and run.receipts_given_up == 0
                    and run.callback_5xx == run.callback_not_stored,
                    f"{run.receipts_lost} lost, causes {run.callback_causes}",
                )
            ),
        ),
        Row(
            area,
            f"{_n(run.campaign_numbers)}-number campaign",
            f"{run.campaign_state}; {run.campaign_lost} numbers lost, {run.campaign_double} sent twice",
            "the 230sms sandbox's requests",
            "0 lost, 0 twice",
            _check(
                (
                    run.campaign_state == "done" and run.campaign_lost == 0 and run.campaign_double == 0,
                    "campaign",
                )
            ),
        ),
        Row(
            area,
            f"{run.checks} verification checks (4 wrong, 1 right a code)",
            f"{run.checks_5xx} 5xx, {run.checks_wrong} unexpected answers;"
            f" {run.api_5xx} 5xx from the API in all",
            "each answer against the code's state",
            "0 5xx, 0 unexpected",
            _check((run.checks_5xx == 0 and run.checks_wrong == 0 and run.api_5xx == 0, "checks")),
        ),
    ]


def webhook_rows(run: WebhookRun) -> list[Row]:
    twice = run.duplicates / max(run.n, 1)
    area = "9 webhooks"
    return [
        Row(
            area,
            f"{_n(run.n)} status changes as they happen (a 230sms send, its receipts pushed at once)",
            f"status change to arrival p50 {run.percentile(0.5):.2f} s, p99 {run.percentile(0.99):.2f} s;"
            f" {run.lost} lost, {run.duplicates} twice, {run.unverified} not verified;"
            f" {run.live_events_per_s:,.0f} events/s (the receipts' pace)",
            "the receiver's arrivals, each verified with standardwebhooks",
            "0 lost, <= 0.1% twice, all verified",
            _check(
                (run.lost == 0, f"{run.lost} lost"),
                (twice <= 0.001, f"{run.duplicates} twice"),
                (run.unverified == 0, f"{run.unverified} unverified"),
            ),
        ),
        Row(
            area,
            f"a backlog of {_n(run.n)} events queued by /recover",
            f"{run.backlog_events_per_s:,.0f} events/s; {_n(run.backlog)} queued"
            f" (in {run.backlog_queued_s:.1f} s), {run.backlog_lost} lost",
            "the recover call to the last arrival",
            ">= 1,000 events/s, 0 lost",
            _check(
                (run.backlog_lost == 0, f"{run.backlog_lost} lost"),
                (run.backlog_events_per_s >= 1000, f"{run.backlog_events_per_s:,.0f} events/s"),
            ),
        ),
    ]


def console_rows(runs: list[ConsoleRun]) -> list[Row]:
    return [
        Row(
            "7 console",
            f"{_n(run.n)} recipients via {run.provider}: the inbox's first page after the API's answer",
            f"{1000 * run.median_s:.0f} ms (runs {', '.join(f'{1000 * t:.0f}' for t in run.shown_after_s)})",
            f"50 rows of {_n(run.n)}, each with its status; {_n(run.page_bytes)} bytes",
            "<= 2 s",
            _check((run.median_s <= 2.0, f"{run.median_s:.2f} s")),
        )
        for run in runs
    ]
