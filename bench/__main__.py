"""`python -m bench` (`make bench`): run every benchmark, print one table, write bench/results.{json,md}.

Options trade fidelity for time (`--quick` for a smoke run); the defaults are the documented run.
"""

import argparse
import os
import sys


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000", help="bulk sizes, comma-separated")
    parser.add_argument("--sample", type=int, default=100, help="numbers sent by the per-number client")
    parser.add_argument("--history", type=int, default=100_000, help="settled messages for the poller")
    parser.add_argument("--pending", type=int, default=1_000, help="pending messages for the poller")
    parser.add_argument("--invocations", type=int, default=200, help="warm invocations per handler")
    parser.add_argument("--runs", type=int, default=5, help="fresh processes per cold-start target")
    parser.add_argument(
        "--pumping",
        default="5000,500",
        help="SMS-pumping run: attack requests,users (the full scenario, about 6 minutes here)",
    )
    parser.add_argument(
        "--campaign", type=int, default=1_000_000, help="recipients of the campaign through the local stack"
    )
    parser.add_argument("--quick", action="store_true", help="small sizes everywhere: a smoke run")
    parser.add_argument("--no-write", action="store_true", help="print only; leave results.* alone")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.sample, args.history, args.pending = "1000,10000", 10, 2_000, 100
        args.invocations, args.runs, args.pumping, args.campaign = 20, 1, "200,20", 20_000
    args.sizes = tuple(int(size) for size in args.sizes.split(",") if size.strip())
    args.pumping = tuple(int(n) for n in args.pumping.split(","))
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    table_out = sys.stdout
    with open(os.devnull, "w") as sink:
        # The handlers' logs and metrics go to stdout, as in Lambda; Powertools binds the stream when
        # the layer is imported, so stdout is swapped first and the table written to the real one.
        sys.stdout = sink
        try:
            from .run import run  # noqa: PLC0415 - only after the swap above

            return run(args, table_out)
        finally:
            sys.stdout = table_out


if __name__ == "__main__":
    sys.exit(main())
