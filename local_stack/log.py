"""The local stack's own lines on stderr (the access log, warnings, handler failures)."""

import sys


def log(line: str) -> None:
    """One line to stderr, written at once so concurrent requests never interleave."""
    sys.stderr.write(line + "\n")
    sys.stderr.flush()
