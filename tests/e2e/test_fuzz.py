"""Schemathesis against the local stack's own OpenAPI document: no 5xx, no answer outside the spec.

Bounded: a fixed number of examples per operation and a fixed seed, so CI runs the same cases.
Checks left out, and why: positive_data_acceptance (a schema-valid number may be blocklisted or rate
limited, which is a 4xx by design), negative_data_rejection (we accept friendlier number formats
than the schema's pattern), unsupported_method (API Gateway answers 403, not 405, and so do we).
"""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.e2e.client import start_stack, stop_stack

CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
        "response_headers_conformance",
    ]
)
# Verification-code limits would turn repeated fuzz cases into 429s; they have their own tests.
LIMITS_OFF = {
    "VERIFY_COOLDOWN_SECONDS": "1",
    "VERIFY_MAX_PER_10_MINUTES": "100000",
    "VERIFY_MAX_PER_DAY": "100000",
}


@pytest.mark.e2e
@pytest.mark.parametrize("hooks", [None, "tests.e2e.hostile_hooks"], ids=["schema", "hostile"])
def test_schemathesis_finds_no_server_error_and_nothing_outside_the_spec(hooks: str | None) -> None:
    """Once with the schema's own data, once with a hostile value in one field of each body."""
    schemathesis = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    assert schemathesis, "schemathesis is in requirements-dev.txt"
    with tempfile.TemporaryDirectory(prefix="fuzz-") as folder:
        process, info = start_stack(LIMITS_OFF, Path(folder) / "stderr.log")
        try:
            run = subprocess.run(
                [
                    schemathesis,
                    "run",
                    f"{info['api_url']}/openapi.json",
                    "--url",
                    info["api_url"],
                    "-H",
                    f"x-api-key: {info['api_key']}",
                    "--checks",
                    CHECKS,
                    "--max-examples",
                    "40",
                    "--seed",
                    "20261123",
                    "--request-timeout",
                    "20",
                    "--no-color",
                ],
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
                env={**os.environ, **({"SCHEMATHESIS_HOOKS": hooks} if hooks else {})},
            )
        finally:
            stop_stack(process, Path(folder) / "stderr.log")
    report = run.stdout + run.stderr
    assert run.returncode == 0, report[-6000:]
    assert "generated" in report and "passed" in report
