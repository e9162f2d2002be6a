"""Runs every benchmark in order and writes the results (see bench/__main__.py for the options)."""

import argparse
import json
import sys
import time
import warnings
from datetime import UTC, datetime
from typing import Any, TextIO

from smsgw.platform import config

from . import (
    ROOT,
    aws_faults,
    bulk,
    campaign,
    coldstart,
    console,
    dynamo,
    endtoend,
    lifecycle,
    machine,
    pumping,
    report,
    warm,
    webhooks,
)
from .stack import Stack

RESULTS_JSON = ROOT / "bench" / "results.json"
RESULTS_MD = ROOT / "bench" / "results.md"


def run(args: argparse.Namespace, out: TextIO) -> int:  # noqa: PLR0915 - the benchmarks' one sequence
    started = time.perf_counter()
    warnings.filterwarnings("ignore", "No application metrics to publish", UserWarning)

    def progress(message: str) -> None:
        print(f"[bench {time.perf_counter() - started:6.1f} s] {message}", file=sys.stderr, flush=True)

    info = machine.describe()
    progress(machine.line(info))
    with Stack() as stack:
        stack.cm.faults.inject("delay", seconds=bulk.DELAY)
        stack.sms230.faults.inject("delay", seconds=bulk.DELAY)
        progress(f"1 (i) bulk send through the provider clients: {args.sizes}")
        client_runs = bulk.client_layer(stack, args.sizes, lambda n: 3 if n <= 10_000 else 1)
        progress(f"1 per-number client, {args.sample} numbers per provider")
        baselines = bulk.per_number_baseline(stack, args.sample)
        caps = {provider: bulk.cap_of(provider) for provider in bulk.PROVIDERS}
        concurrency = bulk.concurrency_of("cmessages")
        max_recipients = config.settings().max_recipients
        api_sizes = tuple(n for n in args.sizes if n <= max_recipients)
        progress(f"1 (ii) bulk send through the send handler: {api_sizes}")
        handler_runs = bulk.handler_layer(stack, api_sizes)
        progress(f"4 warm overhead (and 2: calls per receipt), {args.invocations} invocations per handler")
        warm_runs = warm.measure(stack, args.invocations)
    with Stack() as stack:
        progress("2 a 230sms message's whole life: send, receipt, lookup, end of window")
        life = lifecycle.measure(stack)
    progress(f"1 (iii) end to end through the local stack: {max(api_sizes)} recipients, 3 runs each")
    through_stack = endtoend.run(max(api_sizes), runs=3)
    progress(f"6 campaign of {args.campaign:,} recipients through the local stack")
    campaigned = campaign.run(args.campaign)
    sizes = (10_000, 2_000, 20_000, 200) if not args.quick else (1_000, 200, 2_000, 50)
    progress(f"8 AWS unwell ({aws_faults.FAULTS}): send, receipts, campaign, checks of {sizes}")
    faulted = aws_faults.run(*sizes)
    hooks_n = 10_000 if not args.quick else 2_000
    progress(f"9 webhooks: {hooks_n:,} status changes delivered to a local receiver")
    hooked = webhooks.run(hooks_n)
    progress(f"7 console: a {console.N:,}-recipient send shown in the local inbox, 3 sends a provider")
    consoled = console.run()
    with Stack() as stack:
        attack, users = args.pumping
        progress(f"5 SMS pumping: {attack:,} attack requests, {users} users")
        pumped = pumping.measure(stack, attack, users)
    with Stack(cm_status_delays=(3600.0, 7200.0)) as stack:  # pending messages stay pending
        progress(
            f"2 poller: {args.pending:,} pending, then {args.history:,} settled recorded and polled again"
        )
        poll = dynamo.poller(stack, args.history, args.pending)
    progress(f"3 cold start: {args.runs} fresh processes per handler (+1 warm-up round)")
    cold = coldstart.measure(args.runs)
    receipt_run = next((run for run in warm_runs if run.handler == "callback"), None)
    rows = [
        *report.bulk_rows(client_runs, baselines),
        *report.handler_rows(handler_runs, caps),
        *report.end_to_end_rows(through_stack),
        *report.dynamodb_rows(handler_runs, receipt_run, poll),
        *report.lifecycle_rows(life),
        *report.cold_rows(cold),
        *report.warm_rows(warm_runs),
        *report.pumping_rows(pumped),
        *report.campaign_rows(campaigned),
        *report.aws_fault_rows(faulted),
        *report.webhook_rows(hooked),
        *report.console_rows(consoled),
    ]
    elapsed = time.perf_counter() - started
    table = report.render(rows)
    heading = report.title(info, elapsed)
    print(heading, file=out)
    print(table, file=out)
    failed = [row for row in rows if row.check.startswith("FAIL")]
    print(
        f"{len(failed)} of {sum(1 for r in rows if r.check)} checks failed; method: bench/results.md",
        file=out,
    )
    out.flush()
    if not args.no_write:
        results = {
            "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": info,
            "elapsed_s": elapsed,
            "parameters": {k: v for k, v in vars(args).items() if k != "no_write"},
            "bulk_client": [r.as_dict() for r in client_runs],
            "per_number_baseline": {
                p: {**vars(b), "per_number_s": b.per_number_s} for p, b in baselines.items()
            },
            "bulk_handler": [r.as_dict() for r in handler_runs],
            "end_to_end": [r.as_dict() for r in through_stack],
            "cmessages_concurrency": concurrency,
            "poller": poll,
            "lifecycle": life.as_dict(),
            "warm": [r.summary() for r in warm_runs],
            "pumping": pumped.as_dict(),
            "campaign": campaigned.as_dict(),
            "aws_faults": faulted.as_dict(),
            "webhooks": hooked.as_dict(),
            "console": [r.as_dict() for r in consoled],
            "cold_start": {
                "runs": cold.runs,
                "layer": list(cold.layer),
                "median_ms": {k: 1000 * cold.median(k) for k in cold.wall},
                "median_cpu_ms": {k: 1000 * cold.median(k, cpu=True) for k in cold.cpu},
                "ratio_to_boto3": {k: cold.median(k) / cold.median("boto3") for k in cold.wall},
                "wall_s": cold.wall,
                "cpu_s": cold.cpu,
                "breakdown": cold.breakdown,
            },
            "rows": [dict(zip(report.COLUMNS, row.cells(), strict=True)) for row in rows],
        }
        RESULTS_JSON.write_text(json.dumps(results, indent=2, default=str) + "\n")
        RESULTS_MD.write_text(markdown(heading, table, results))
        progress(f"wrote {RESULTS_JSON.relative_to(ROOT)} and {RESULTS_MD.relative_to(ROOT)}")
    return 0


def markdown(heading: str, table: str, results: dict[str, Any]) -> str:
    poll = results["poller"]
    walls = [f"{c['wall_s']:.2f} s with {c['history']:,} settled" for c in poll["cycles"]]
    cold = results["cold_start"]
    largest = max(results["bulk_handler"], key=lambda run: run["n"], default=None)
    moto_ms = (
        1000 * largest["phases_s"]["record"] / max(1, largest["dynamodb"].get("BatchWriteItem", 0))
        if largest
        else 0.0
    )
    lines = [
        "# Benchmarks",
        "",
        f"`make bench` (`.venv/bin/python -m bench`), {results['generated_at']}.",
        "",
        heading,
        "",
        table,
        "",
        "## How it was measured",
        "",
        "- **Sandboxes**: the project's `Sms230Sandbox` and `CMessagesSandbox` in-process on loopback,"
        f" every provider request held {1000 * bulk.DELAY:.0f} ms (`faults.inject('delay')`), balances"
        " raised so they never refuse.",
        "- **Physical minimum**: 230sms needs k = ceil(n/1000) requests at its documented 100 requests/s,"
        " plus one latency: (k-1)/100 s + 50 ms. The client paces at `SMS230_REQUESTS_PER_SECOND` = 95"
        " (5% margin for jitter), so its own floor is (k-1)/95 s + 50 ms. cmessages documents neither a"
        " per-request cap nor a rate limit: the cap is the configured `CMESSAGES_CHUNK_SIZE` (100) and"
        f" the minimum assumes the client's concurrency ({results['cmessages_concurrency']},"
        " `PROVIDER_CONCURRENCY`): ceil(k/concurrency) x 50 ms. More concurrency would lower that"
        " minimum only if the real provider allows it, which is undocumented.",
        "- **Per-number client**: `http.client` with a new connection per call, one number per request,"
        " sequential, signed with `smsgw.providers.signing` (cmessages' `datetime` as a string, as the"
        " vendor's SDKs send it). It sends a sample; the n-recipient figures are linear extrapolations.",
        "- **Through the send handler**: `functions/send/app.py` in-process, Moto in-process"
        " (`mock_aws`, tables and secrets from template.yaml). Phases are timed by wrapping"
        " `SendRequest.parse`, `Blocklist.blocked`, `Limits.consume_recipients`, `service.dispatch` and"
        f" `service._store`. Moto in-process takes {moto_ms:.0f} ms of this machine's CPU per 25-item"
        " BatchWriteItem (GIL-bound, so 8 in flight do not overlap), far more than DynamoDB's few ms of"
        " latency with 8 in flight, so the recording phase measures Moto, not what AWS would take."
        " 100,000 recipients cannot go through the"
        " synchronous API (`MAX_RECIPIENTS` = 10,000 per request; API Gateway answers within 29 s), so"
        " 100,000 is measured at the client layer only.",
        "- **DynamoDB calls**: `before-call.dynamodb` / `after-call.dynamodb` hooks on boto3's default"
        " session, registered before any client is created; items read are the responses' `Count` /"
        " `ScannedCount`. The poller's cmessages messages stay pending (the sandbox keeps them waiting)"
        " so the cycle writes nothing; the settled history is written with `MessageStore.record`"
        f" ({poll['history']:,} items in {poll['record_history_s']:.1f} s through Moto). Moto answers an"
        " index Query by walking the whole table, so its wall time grows with history ("
        + ", ".join(walls)
        + ") where DynamoDB reads only the sparse index; the call and item counts are what DynamoDB"
        " bills.",
        "- **Cold start**: a fresh `python -S` per run, importing the handler by path with only the"
        " layer's dependency closure on the path (" + ", ".join(cold["layer"]) + "), the template's"
        " Globals environment and Lambda's own variables (so the Tracer is on and X-Ray patches at"
        " import, as with `Tracing: Active`). 'As deployed' compiles our modules on every start, as"
        " Lambda does with sources `sam build` copies without .pyc on a read-only file system; 'with"
        " .pyc shipped' precompiles them (`compileall --invalidation-mode unchecked-hash`). Median of"
        f" {cold['runs']} runs, interleaved. The check uses the import's CPU time (wall time is shown"
        " beside it): on this shared 2-core machine wall time also counts waiting for a core. Lambda's own"
        " runtime has imported some of the standard library before the handler, so absolute figures"
        " there are a little lower; the ratio is the target.",
        "- **End to end, campaign and console**: the local stack as `make run` starts it, in its own"
        " process, driven over HTTP. For the campaign the sandboxes run in a process of their own"
        " (`python -m sandboxes`), as a provider is another machine. End to end, the 230sms sandbox's"
        " receipts are held back for an"
        " hour (`receipt_delay`): on AWS they go to the callback function's own containers, here they"
        " would share the send's process. The console row times the inbox's live fragment, asked for"
        " every 50 ms as the page does every second, from the send's answer until its first 50 rows"
        " show with the gateway's status.",
        "- **AWS unwell**: the local stack with `AWS_FAULTS` (`local_stack/aws_faults.py`): botocore's"
        " `before-send` answers 10% of every function's DynamoDB, S3 and SQS calls with what AWS answers"
        " when unwell (a throttle; every item unprocessed for BatchWriteItem; TransactionConflict for"
        " TransactWriteItems; S3 503 SlowDown; SQS 500) and each container's first Secrets Manager read"
        " with an unreachable endpoint; botocore's retries and the gateway's handling run as on AWS."
        " Double sends and lost campaign numbers are counted from the 230sms sandbox's accepted"
        " requests, lost receipts from every message's status read back once 230sms has pushed each"
        " receipt (and retried refused ones three times), 5xx from the stack's access log.",
        "- **Warm overhead**: handler wall time minus the time inside botocore calls"
        " (`BaseClient._make_api_call`: serialisation, signing, Moto's work, parsing), provider HTTP"
        " (the providers' `post_json`) and the 230sms pacer's wait; sandboxes without delay; median"
        " over the invocations after 5 warm-ups. Logging and metrics are written (to /dev/null).",
        "",
        "## Cold start: where the import time goes beyond `import boto3`",
        "",
    ]
    for handler, detail in cold["breakdown"].items():
        lines.append(
            f"`functions/{handler}`: self time of the modules `import boto3` does not load,"
            f" {detail['beyond_boto3_ms']:.0f} ms of {detail['total_ms']:.0f} ms (as deployed: the layer"
            f" precompiled, the handler compiled at start; median of {detail['runs']} `-X importtime` runs):"
        )
        lines.append("")
        lines.append("| package | ms | first imported by |")
        lines.append("|---|---|---|")
        lines += [
            f"| {p['package']} | {p['ms']:.1f} | {p['first_imported_by']} |" for p in detail["packages"]
        ]
        lines.append("")
    return "\n".join(lines)
