"""Benchmarks of the SMS gateway: `python -m bench` (or `make bench`) from the repository root.

Importing this package puts the shared layer on sys.path and sets Powertools' settings before any
smsgw module is imported, as Lambda does (the environment is in place before the handler loads).
"""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYER = ROOT / "layers" / "smsgw"

for _path in (str(LAYER), str(ROOT)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "sms-gateway")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "SmsGateway")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
