"""Attach an API key to an existing tenant, so that it reads and writes that tenant's messages,
blocklist and campaigns (a rotated key, or a second key of the same application).

    python scripts/attach_api_key.py --table <BlocklistTable> --key <new key id> --same-as <old key id>
    python scripts/attach_api_key.py --table <BlocklistTable> --key <key id> --shared

`--same-as` gives the new key the tenant the old key has now; `--shared` the tenant of
TENANCY=single (every key's data before a switch to per-key). Key ids are API Gateway's (`aws
apigateway get-api-keys`), never the key values. Takes effect everywhere within a minute.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "layers" / "smsgw"))

from smsgw.guards.tenants import SHARED, Tenants


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--table", required=True, help="the stack's BlocklistTable (its output)")
    parser.add_argument("--key", required=True, help="the API key id to attach")
    whose = parser.add_mutually_exclusive_group(required=True)
    whose.add_argument("--same-as", help="an API key id whose tenant the key joins")
    whose.add_argument("--shared", action="store_true", help="the tenant of TENANCY=single")
    args = parser.parse_args(argv)
    tenants = Tenants(args.table)
    tenant = SHARED if args.shared else tenants.lookup(args.same_as)
    tenants.attach(args.key, tenant)
    print(f"API key {args.key} now belongs to tenant {tenant or '(shared)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
