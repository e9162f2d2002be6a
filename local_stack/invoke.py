"""`make invoke FUNCTION=send EVENT=events/send.json`: one function, one event, against the running
local stack, as `sam local invoke` runs one with Docker.

    python -m local_stack.invoke FUNCTION EVENT_FILE

FUNCTION is the folder name under functions/ (or the function's logical id). The running stack
(`make run`) leaves each function's environment in its env file (settings.Settings.env_file:
`.local-stack/env.json`, or `LOCAL_STACK_ENV_FILE`), in the shape `sam local invoke --env-vars`
takes; the function runs in an execution environment of its own (lambdas.Container) with exactly
that environment, so it reaches the stack's Moto, tables, secrets and sandboxes. Without a running
stack it says so in one line. The handler's result is printed as JSON on stdout; its logs go to
stderr. A deployed function is invoked with `sam remote invoke` instead.
"""

import argparse
import json
import sys
from pathlib import Path

from . import lambdas, resources
from . import template as tpl
from .settings import Settings


def running_stack_environments(env_file: Path) -> dict[str, dict[str, str]] | None:
    """The running stack's functions' environments, or None when no stack is running."""
    try:
        loaded: dict[str, dict[str, str]] = json.loads(env_file.read_text())
    except (OSError, ValueError):
        return None
    return loaded


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local_stack.invoke", description=__doc__.split("\n")[0])
    parser.add_argument("function", help="folder name under functions/ (e.g. send) or logical id")
    parser.add_argument("event", type=Path, help="event JSON file, e.g. events/send.json")
    args = parser.parse_args(argv)

    template = tpl.load()
    functions = tpl.functions(template)
    by_folder = {f.code_uri.name: f for f in functions.values() if lambdas.handler_path(f).is_file()}
    function = by_folder.get(args.function) or functions.get(args.function)
    if function is None:
        parser.error(f"unknown function {args.function!r}; one of: {', '.join(sorted(by_folder))}")
    try:
        event = json.loads(args.event.read_text())
    except (OSError, ValueError) as error:
        parser.error(f"cannot read event {args.event}: {error}")

    env_file = Settings.from_env().env_file
    environments = running_stack_environments(env_file)
    if environments is None or function.logical_id not in environments:
        print(f"no local stack is running ({env_file} not found): start one with `make run`", file=sys.stderr)
        return 1
    deployed = environments[function.logical_id]
    spec = lambdas.function_spec(template, function, {"AWS::StackName": resources.STACK})
    container = lambdas.Container(spec, lambdas.lambda_environment(spec, deployed))
    try:
        result = container.invoke(event)
    except (lambdas.FunctionError, lambdas.FunctionTimeout) as error:
        print(error, file=sys.stderr)
        return 1
    finally:
        container.stop()
    sys.stdout.write(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
