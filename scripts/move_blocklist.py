"""Copy the blocklist (opt-outs and each tenant's set) from the limits table, where releases before
the BlocklistTable kept it, into the BlocklistTable. Run once after upgrading, before sending:

    python scripts/move_blocklist.py --from <LimitsTable> --to <BlocklistTable>

Safe to run again (an entry already there is written again, unchanged). It leaves the old items
in place (they expire with nothing: delete them by hand once the copy is checked).
"""

import argparse
import sys
from typing import Any

import boto3

PREFIXES = ("block#", "blockset#")


def move(source: str, target: str, dynamodb: Any = None) -> int:
    """Every blocklist item of `source` written to `target`; how many."""
    client = dynamodb or boto3.client("dynamodb")
    moved = 0
    for page in client.get_paginator("scan").paginate(TableName=source):
        items = [i for i in page["Items"] if i["pk"]["S"].startswith(PREFIXES)]
        for start in range(0, len(items), 25):
            pending: dict[str, Any] = {
                target: [{"PutRequest": {"Item": i}} for i in items[start : start + 25]]
            }
            while pending:
                pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
        moved += len(items)
    return moved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--from", dest="source", required=True, help="the stack's LimitsTable")
    parser.add_argument("--to", dest="target", required=True, help="the stack's BlocklistTable")
    args = parser.parse_args(argv)
    print(f"copied {move(args.source, args.target)} blocklist items to {args.target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
