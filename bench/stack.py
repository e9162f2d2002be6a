"""The real handlers in-process, against Moto (`mock_aws`, tables and secrets built from template.yaml)
and the project's sandbox providers, as tests/handlers/conftest.py does, plus the probes the
benchmarks read: DynamoDB calls by operation (botocore events on boto3's default session), items
read, and wall time spent inside named callables (botocore calls, provider HTTP, phases of a send).
"""

import copy
import functools
import importlib.util
import json
import os
import threading
import time
from collections import Counter, defaultdict
from types import ModuleType, TracebackType
from typing import Any, Self

import boto3
from moto import mock_aws

from local_stack import moto_speedups, resources
from local_stack import template as tpl
from local_stack.lambdas import LambdaContext, reset_caches
from sandboxes import CMessagesSandbox, Sms230Sandbox

from . import ROOT

EVENTS = ROOT / "events"
FUNCTIONS = ROOT / "functions"
TOKEN = "bench-callback-token"  # noqa: S105 - a local test token
BIG_BALANCE = 10**9  # sandboxes' balances: never the limit in a benchmark


def context() -> LambdaContext:
    return LambdaContext("bench", timeout_seconds=29.0)


# -- probes -----------------------------------------------------------------------------------------


class DynamoCalls:
    """DynamoDB calls by operation, and the items Query/Scan read (`Count`, `ScannedCount`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.ops: Counter[str] = Counter()
        self.count: Counter[str] = Counter()
        self.scanned: Counter[str] = Counter()
        self.written = 0  # items put or updated
        self.put_units = 0  # write units of the items put (1 per started KB, as DynamoDB bills)

    def before(self, model: Any, params: Any = None, **_: Any) -> None:
        body = params.get("body") if isinstance(params, dict) else None
        request = json.loads(body) if isinstance(body, bytes | str) and body else {}
        puts = [
            w["PutRequest"]["Item"]
            for writes in request.get("RequestItems", {}).values()
            if model.name == "BatchWriteItem"
            for w in writes
            if "PutRequest" in w
        ] + ([request["Item"]] if model.name == "PutItem" else [])
        with self._lock:
            self.ops[model.name] += 1
            self.written += len(puts) + (model.name == "UpdateItem")
            self.put_units += sum(-(-item_size(item) // 1024) for item in puts)

    def after(self, parsed: Any, model: Any, **_: Any) -> None:
        if not isinstance(parsed, dict):
            return
        with self._lock:
            self.count[model.name] += int(parsed.get("Count", 0) or 0)
            self.scanned[model.name] += int(parsed.get("ScannedCount", 0) or 0)

    def reset(self) -> None:
        with self._lock:
            self.ops.clear()
            self.count.clear()
            self.scanned.clear()
            self.written = self.put_units = 0

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "ops": dict(sorted(self.ops.items())),
                "count": dict(self.count),
                "scanned": dict(self.scanned),
                "written": self.written,
                "put_units": self.put_units,
            }


def item_size(item: dict[str, Any]) -> int:
    """An item's size as DynamoDB counts it, closely enough: attribute names plus values' bytes
    (numbers as their digits, lists and maps with their elements and a few bytes each)."""

    def value_size(typed: dict[str, Any]) -> int:
        ((kind, value),) = typed.items()
        if kind in ("L",):
            return 3 + sum(1 + value_size(v) for v in value)
        if kind == "M":
            return 3 + sum(len(k.encode()) + 1 + value_size(v) for k, v in value.items())
        if kind in ("SS", "NS"):
            return sum(len(str(v).encode()) for v in value)
        return len(str(value).encode())

    return sum(len(name.encode()) + value_size(typed) for name, typed in item.items())


class Timers:
    """Wall seconds spent inside wrapped callables, by name, summed over threads (so concurrent calls
    add up: compare with the phase's own wall time). Wrapping is undone by `restore`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.seconds: defaultdict[str, float] = defaultdict(float)
        self.calls: Counter[str] = Counter()
        self._patched: list[tuple[Any, str, Any]] = []

    def add(self, name: str, seconds: float) -> None:
        with self._lock:
            self.seconds[name] += seconds
            self.calls[name] += 1

    def wrap(self, owner: Any, attribute: str, name: str) -> None:
        original = owner.__dict__[attribute] if isinstance(owner, type) else getattr(owner, attribute)
        is_classmethod = isinstance(original, classmethod)
        function = original.__func__ if is_classmethod else original

        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.add(name, time.perf_counter() - start)

        setattr(owner, attribute, classmethod(timed) if is_classmethod else timed)
        self._patched.append((owner, attribute, original))

    def restore(self) -> None:
        for owner, attribute, original in reversed(self._patched):
            setattr(owner, attribute, original)
        self._patched.clear()

    def reset(self) -> None:
        with self._lock:
            self.seconds.clear()
            self.calls.clear()

    def snapshot(self) -> dict[str, float]:
        with self._lock:
            return dict(self.seconds)


# -- events ---------------------------------------------------------------------------------------


@functools.cache
def _sample(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    return loaded


def event(name: str) -> dict[str, Any]:
    return copy.deepcopy(_sample(name))


def send_event(body: dict[str, Any], api_key_id: str) -> dict[str, Any]:
    """events/send.json with another body, from another API key (the per-key quota is per minute)."""
    sample = event("send")
    sample["body"] = json.dumps(body)
    sample["requestContext"]["identity"]["apiKeyId"] = api_key_id
    return sample


def receipt_event(receipt: dict[str, str], token: str = TOKEN) -> dict[str, Any]:
    sample = event("callback")
    sample["body"] = json.dumps(receipt)
    sample["pathParameters"] = {"provider": "230sms", "token": token}
    sample["path"] = f"/callbacks/230sms/{token}"
    return sample


def cn_numbers(count: int, start: int = 13800000000) -> list[str]:
    return [str(start + i) for i in range(count)]


# -- the stack --------------------------------------------------------------------------------------


class Stack:
    """Moto + sandboxes + the template's environment, for one `with` block."""

    def __init__(self, *, cm_status_delays: tuple[float, float] = (0.2, 0.4)) -> None:
        self.cm_status_delays = cm_status_delays
        self.dynamodb = DynamoCalls()
        self.env: dict[str, str] = {}
        self.handlers: dict[str, ModuleType] = {}
        self._saved_env: dict[str, str] = {}
        self._mock: Any = None
        self.cm: CMessagesSandbox
        self.sms230: Sms230Sandbox

    def __enter__(self) -> Self:
        self._saved_env = dict(os.environ)
        os.environ.update(
            AWS_DEFAULT_REGION="us-east-1",
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",  # noqa: S106 - Moto's dummy credentials
            POWERTOOLS_TRACE_DISABLED="true",
        )
        os.environ.pop("AWS_ENDPOINT_URL", None)
        self._mock = mock_aws()
        self._mock.start()
        moto_speedups.install()  # Moto's Query costs O(partition), as DynamoDB's does (see the module)
        self.cm = CMessagesSandbox(balance=BIG_BALANCE, status_delays=self.cm_status_delays).start()
        self.sms230 = Sms230Sandbox(balance=BIG_BALANCE).start()
        # Every client of the handlers comes from the default session: hook it before any exists.
        boto3.setup_default_session()
        session: Any = boto3.DEFAULT_SESSION
        session.events.register("before-call.dynamodb", self.dynamodb.before)
        session.events.register("after-call.dynamodb", self.dynamodb.after)
        template = tpl.load()
        tables = resources.create_tables(template, boto3.client("dynamodb"))
        resources.create_buckets(template, boto3.client("s3"))
        resources.create_queues(template, boto3.client("sqs"))
        secrets = resources.create_secrets(
            template,
            boto3.client("secretsmanager"),
            {
                "CmessagesSecret": {"app_id": self.cm.app_id, "app_key": self.cm.app_key},
                "Sms230Secret": {"apikey": self.sms230.apikey, "apisecret": self.sms230.apisecret},
                "CallbackTokenSecret": {
                    "token": TOKEN,
                    "receipts": {"230sms": {"apikey": self.sms230.apikey}},
                },
            },
        )
        refs = resources.references(template, tables, secrets)
        refs.update(CmessagesBaseUrl=self.cm.url, Sms230BaseUrl=self.sms230.url)
        self.env = tpl.environment(tpl.functions(template)["SendFunction"], refs)
        os.environ.update(self.env)
        reset_caches()
        self.dynamodb.reset()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        reset_caches()
        self.cm.stop()
        self.sms230.stop()
        self._mock.stop()
        boto3.DEFAULT_SESSION = None
        os.environ.clear()
        os.environ.update(self._saved_env)

    def handler(self, function: str) -> ModuleType:
        """functions/<function>/app.py under a distinct module name (they all share the name `app`)."""
        if function not in self.handlers:
            path = FUNCTIONS / function / "app.py"
            spec = importlib.util.spec_from_file_location(f"bench_handler_{function}", path)
            if spec is None or spec.loader is None:
                raise ImportError(f"cannot load {path}")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            self.handlers[function] = module
        return self.handlers[function]

    def invoke(self, function: str, lambda_event: dict[str, Any]) -> Any:
        return self.handler(function).lambda_handler(lambda_event, context())


def body_of(response: dict[str, Any]) -> Any:
    return json.loads(response["body"])
