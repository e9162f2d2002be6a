"""`make invoke FUNCTION=send EVENT=events/send.json`: run one function's handler in-process.

    python -m local_stack.invoke FUNCTION EVENT_FILE

FUNCTION is the folder name under functions/. The function gets the template's environment, resolved
as the local stack creates things (tables and secrets named by their logical id, parameter defaults);
any variable already set in the process environment wins. So, against the running local stack:

    AWS_ENDPOINT_URL=<moto url> CMESSAGES_BASE_URL=<cmessages url> \\
        python -m local_stack.invoke balance events/balance.json

and against real AWS: export MESSAGES_TABLE, CMESSAGES_SECRET_ID, … and leave AWS_ENDPOINT_URL unset.
The handler's result is printed as JSON on stdout; the handler's own output goes to stderr.
"""

import argparse
import contextlib
import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any

from . import lambdas, resources
from . import template as tpl


def environment(template: dict[str, Any], function: tpl.Function) -> dict[str, str]:
    """The function's environment as the local stack would give it (before the process overrides)."""
    tables, secret_names = resources.local_names(template)
    return tpl.environment(function, resources.references(template, tables, secret_names))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local_stack.invoke", description=__doc__.split("\n")[0])
    parser.add_argument("function", help="folder name under functions/, e.g. send")
    parser.add_argument("event", type=Path, help="event JSON file, e.g. events/send.json")
    args = parser.parse_args(argv)

    template = tpl.load()
    by_folder = {f.code_uri.name: f for f in tpl.functions(template).values()}
    function = by_folder.get(args.function)
    if function is None or not lambdas.handler_path(function).is_file():
        known = sorted(name for name, f in by_folder.items() if lambdas.handler_path(f).is_file())
        parser.error(f"unknown function {args.function!r}; one of: {', '.join(known)}")
    try:
        event = json.loads(args.event.read_text())
    except (OSError, ValueError) as error:
        parser.error(f"cannot read event {args.event}: {error}")

    for name, value in environment(template, function).items():
        os.environ.setdefault(name, value)
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    if os.environ.get("AWS_ENDPOINT_URL"):  # a local endpoint (Moto) takes any credentials
        os.environ.setdefault("AWS_DEFAULT_REGION", lambdas.REGION)
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")

    out = sys.stdout
    refs = resources.references(template, *resources.local_names(template))
    try:
        # The handler's logs and metrics (stdout in Lambda) go to stderr: stdout is the result.
        with contextlib.redirect_stdout(sys.stderr):
            local = lambdas.local_function(template, function, refs)
            result = local.invoke(event)
    except Exception:
        traceback.print_exc()
        return 1
    out.write(json.dumps(result, indent=2, ensure_ascii=False, default=str) + "\n")
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
