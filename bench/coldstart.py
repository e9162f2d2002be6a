"""Cold start: each handler's import time in a fresh Python process, next to `import boto3` alone.

What Lambda imports at INIT is the layer (layers/smsgw/requirements.txt and what those require) plus
the standard library. The project's virtualenv holds more (moto, requests, pytest ...), and X-Ray's
`patch_all` imports and patches whatever patchable library it finds, so timing against the
virtualenv would bill the handlers for `requests` that the deployed layer does not carry. So the
child runs with `-S` (no site-packages) and sees only copies of the layer's dependency closure, the
layer's package and the handler, as `/opt/python` and the task root hold them in Lambda.

The baseline is `import boto3` from that closure without bytecode, as `pip install --no-compile`
leaves a build (and as `sam build`'s default builder ships it). The layer's build
(layers/smsgw/Makefile) ships the whole closure and the `smsgw` package precompiled (`compileall
--invalidation-mode unchecked-hash`, which zip mtimes cannot invalidate); the function folders hold
only their `app.py`, which Lambda's read-only file system makes Python compile at every cold start.
The "as deployed" figure reproduces that (PYTHONDONTWRITEBYTECODE); the "handler precompiled" figure
also precompiles the handlers. The environment is the template's Globals plus what Lambda sets
(LAMBDA_TASK_ROOT ...), so Powertools initialises as in Lambda: Tracing is Active, so the Tracer is
on and patches at import.
"""

import compileall
import os
import py_compile
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement

from local_stack import resources
from local_stack import template as tpl

from . import LAYER, ROOT

RUNS = 5
TARGET_RATIO = 1.0  # of `import boto3` from the same build without bytecode
DETAIL_RUNS = 3  # -X importtime runs per handler for the breakdown
# One handler per import shape: API + send machinery, API read-only, callback, scheduled poller.
DETAIL_FOR = ("send", "balance", "callback", "poll_status")
HANDLERS = sorted(p.parent.name for p in (ROOT / "functions").glob("*/app.py"))

# The child: time the import only (interpreter start-up is the same for every target).
CHILD = """
import importlib.util, sys, time
target = sys.argv[1]
start, cpu = time.perf_counter(), time.process_time()
if target == "boto3":
    import boto3
else:
    spec = importlib.util.spec_from_file_location("app", target)
    module = importlib.util.module_from_spec(spec)
    sys.modules["app"] = module
    spec.loader.exec_module(module)
print(time.perf_counter() - start, time.process_time() - cpu)
"""


def _closure(requirements: list[Requirement]) -> list[metadata.Distribution]:
    """The installed distributions the layer's requirements pull in, extras and markers applied."""
    found: dict[str, metadata.Distribution] = {}
    todo = [(r, tuple(r.extras)) for r in requirements]
    while todo:
        requirement, extras = todo.pop()
        name = re.sub(r"[-_.]+", "-", requirement.name).lower()
        if requirement.marker and not any(
            requirement.marker.evaluate({"extra": extra}) for extra in (extras or ("",))
        ):
            continue
        if name in found:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        found[name] = dist
        for text in dist.requires or []:
            todo.append((Requirement(text), tuple(requirement.extras)))
    return list(found.values())


def layer_requirements() -> list[Requirement]:
    lines = (LAYER / "requirements.txt").read_text().splitlines()
    return [Requirement(line.split("#")[0].strip()) for line in lines if line.split("#")[0].strip()]


@dataclass(frozen=True)
class Layout:
    """A temporary copy of what Lambda loads: dependencies, the layer's package and the handlers."""

    source_site: Path  # the dependency closure as copied, no bytecode: the baseline's boto3
    site: Path  # the same, precompiled as layers/smsgw/Makefile ships it
    deployed: Path  # layer + functions as `sam build` ships them: the layer precompiled
    compiled: Path  # the same, the handlers precompiled too
    layer: tuple[str, ...]

    def handler(self, kind: str, function: str) -> Path:
        return Path(getattr(self, kind)) / "functions" / function / "app.py"


NO_BYTECODE = shutil.ignore_patterns("__pycache__", "*.pyc")


def _compile(folder: Path) -> None:
    """As layers/smsgw/Makefile builds the layer: bytecode that zip timestamps cannot invalidate."""
    compileall.compile_dir(
        folder, quiet=1, workers=0, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH
    )


def _copy_sources(target: Path) -> None:
    shutil.copytree(LAYER / "smsgw", target / "layer" / "smsgw", ignore=NO_BYTECODE)
    for function in HANDLERS:
        folder = target / "functions" / function
        folder.mkdir(parents=True)
        shutil.copy2(ROOT / "functions" / function / "app.py", folder / "app.py")


def _copy_closure(site: Path) -> list[str]:
    """The layer's dependency closure, copied without the .pyc pip wrote (what `pip install
    --no-compile` leaves in the build before the Makefile compiles it)."""
    site.mkdir()
    names = []
    for dist in _closure(layer_requirements()):
        names.append(f"{dist.metadata['Name']}=={dist.version}")
        base = Path(str(dist.locate_file("")))
        for top in {file.parts[0] for file in dist.files or [] if file.parts}:
            source, target = base / top, site / top
            if top in ("..", "bin", "__pycache__") or not source.exists() or target.exists():
                continue
            if source.is_dir():
                shutil.copytree(source, target, ignore=NO_BYTECODE)
            else:
                shutil.copy2(source, target)
    return names


@contextmanager
def layout() -> Iterator[Layout]:
    root = Path(tempfile.mkdtemp(prefix="bench-coldstart-"))
    try:
        names = _copy_closure(root / "source-site")
        shutil.copytree(root / "source-site", root / "site")
        _compile(root / "site")
        _copy_sources(root / "deployed")
        _copy_sources(root / "compiled")
        _compile(root / "deployed" / "layer")
        _compile(root / "compiled")
        yield Layout(
            root / "source-site", root / "site", root / "deployed", root / "compiled", tuple(sorted(names))
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)


def lambda_environment(place: Layout, kind: str, function: str, site: Path | None = None) -> dict[str, str]:
    """The template's Globals environment (local names) plus the variables Lambda itself sets."""
    template = tpl.load()
    functions = {f.code_uri.name: f for f in tpl.functions(template).values()}
    tables, secrets = resources.local_names(template)
    env = tpl.environment(functions[function], resources.references(template, tables, secrets))
    code = Path(getattr(place, kind))
    env.update(
        PATH=os.environ.get("PATH", "/usr/bin:/bin"),
        LANG="C.UTF-8",
        PYTHONPATH=f"{code / 'layer'}{os.pathsep}{site or place.site}",
        PYTHONDONTWRITEBYTECODE="1",  # Lambda's file system is read-only
        AWS_REGION="us-east-1",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_EXECUTION_ENV="AWS_Lambda_python3.13",
        AWS_LAMBDA_FUNCTION_NAME=f"sms-gateway-{function}",
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE="512",
        LAMBDA_TASK_ROOT=str(code / "functions" / function),
        LAMBDA_RUNTIME_DIR="/var/runtime",
        AWS_XRAY_CONTEXT_MISSING="LOG_ERROR",
        AWS_XRAY_DAEMON_ADDRESS="169.254.79.129:2000",
    )
    return env


def _run(target: str, env: dict[str, str], *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-S", *flags, "-c", CHILD, target],
        env=env,
        cwd=tempfile.gettempdir(),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )


@dataclass
class ImportRow:
    name: str
    self_us: int
    cumulative_us: int
    depth: int
    parent: int | None = None


@dataclass
class ColdStart:
    wall: dict[str, list[float]] = field(default_factory=dict)  # "boto3", "deployed:send" ...
    cpu: dict[str, list[float]] = field(default_factory=dict)
    layer: tuple[str, ...] = ()
    breakdown: dict[str, Any] = field(default_factory=dict)
    runs: int = RUNS

    def median(self, key: str, cpu: bool = False) -> float:
        return statistics.median((self.cpu if cpu else self.wall)[key])


def parse_importtime(text: str) -> list[ImportRow]:
    rows = []
    for line in text.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        own, cumulative, name = line.split(":", 1)[1].split("|")
        depth = (len(name) - len(name.lstrip())) // 2
        rows.append(ImportRow(name.strip(), int(own), int(cumulative), depth))
    # The listing is post-order: a module's parent is the next line with a smaller depth.
    open_rows: list[int] = []
    for index in range(len(rows) - 1, -1, -1):
        while open_rows and rows[open_rows[-1]].depth >= rows[index].depth:
            open_rows.pop()
        rows[index].parent = open_rows[-1] if open_rows else None
        open_rows.append(index)
    return rows


def _top(name: str) -> str:
    return name.split(".", maxsplit=1)[0]


def _brought_by(rows: list[ImportRow], index: int) -> str:
    """The nearest module above `index` on its import chain from another package: who asked for it."""
    parent = rows[index].parent
    own_top = _top(rows[index].name)
    while parent is not None:
        name = rows[parent].name
        if _top(name) != own_top:
            return name
        parent = rows[parent].parent
    return "(handler)"


def _key(name: str) -> str:
    """Powertools by sub-package (event_handler, utilities.idempotency ...), others by package."""
    parts = name.split(".")
    if parts[0] == "aws_lambda_powertools":
        return ".".join(parts[:3] if len(parts) > 2 and parts[1] == "utilities" else parts[:2])
    return parts[0]


def breakdown(handler_texts: list[str], boto3_texts: list[str]) -> dict[str, Any]:
    """Where a handler's import time goes beyond `import boto3`: self time of every module that
    `import boto3` does not load, summed by package (our modules one by one), median over runs,
    with who first imported it."""
    baseline = {row.name for text in boto3_texts for row in parse_importtime(text)}
    samples: dict[str, list[float]] = defaultdict(list)
    totals, beyond = [], []
    brought: dict[str, str] = {}
    for text in handler_texts:
        rows = parse_importtime(text)
        by_key: dict[str, float] = defaultdict(float)
        for index, row in enumerate(rows):
            if row.name in baseline:
                continue
            key = _key(row.name)
            by_key[key] += row.self_us / 1000
            if key not in brought:
                brought[key] = _brought_by(rows, index)
        for key, ms in by_key.items():
            samples[key].append(ms)
        totals.append(sum(row.self_us for row in rows) / 1000)
        beyond.append(sum(by_key.values()))
    medians = {
        key: statistics.median(values + [0.0] * (len(handler_texts) - len(values)))
        for key, values in samples.items()
    }
    return {
        "runs": len(handler_texts),
        "total_ms": round(statistics.median(totals), 1),
        "beyond_boto3_ms": round(statistics.median(beyond), 1),
        "packages": [
            {"package": key, "ms": round(ms, 1), "first_imported_by": brought.get(key, "")}
            for key, ms in sorted(medians.items(), key=lambda kv: -kv[1])
            if ms >= 1.0
        ],
    }


def measure(runs: int = RUNS, detail_for: tuple[str, ...] = DETAIL_FOR) -> ColdStart:
    """Median of `runs` fresh processes per target, interleaved round by round so that load from
    elsewhere on the machine falls on every target alike (one warm-up round is discarded)."""
    result = ColdStart(runs=runs)
    with layout() as place:
        result.layer = place.layer
        jobs = [  # the target's baseline: boto3 without bytecode; beside it, boto3 as the layer ships it
            ("boto3", "boto3", lambda_environment(place, "deployed", "send", place.source_site)),
            ("boto3:bytecode", "boto3", lambda_environment(place, "deployed", "send")),
        ]
        for function in HANDLERS:
            for kind in ("deployed", "compiled"):
                path = str(place.handler(kind, function))
                jobs.append((f"{kind}:{function}", path, lambda_environment(place, kind, function)))
        for round_no in range(runs + 1):
            for key, target, env in jobs:
                wall, cpu = (float(x) for x in _run(target, env).stdout.split())
                if round_no:
                    result.wall.setdefault(key, []).append(wall)
                    result.cpu.setdefault(key, []).append(cpu)
        envs = {key: env for key, _, env in jobs}
        boto3_texts = [_run("boto3", envs["boto3"], "-X", "importtime").stderr for _ in range(DETAIL_RUNS)]
        for function in detail_for:
            path, env = str(place.handler("deployed", function)), envs[f"deployed:{function}"]
            texts = [_run(path, env, "-X", "importtime").stderr for _ in range(DETAIL_RUNS)]
            result.breakdown[function] = breakdown(texts, boto3_texts)
    return result
