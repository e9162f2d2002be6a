#!/usr/bin/env bash
# Prints the path of a working Python 3.13 (the Lambda runtime we target), or fails with a clear message.
# Order: $PYTHON313, python3.13 on PATH (pyenv's shim refuses unless selected, so we test it), pyenv's install.
set -u
try() { [ -n "$1" ] && "$1" -c 'import sys; assert sys.version_info[:2] == (3, 13)' >/dev/null 2>&1 && { echo "$1"; exit 0; }; }
try "${PYTHON313:-}"
try "$(command -v python3.13 2>/dev/null)"
if command -v pyenv >/dev/null 2>&1; then
  for v in $(pyenv versions --bare 2>/dev/null | grep -E '^3\.13(\.|$)' | sort -rV); do
    try "$(pyenv prefix "$v" 2>/dev/null)/bin/python3.13"
  done
fi
for p in /usr/local/bin/python3.13 /usr/bin/python3.13 "$HOME"/.pyenv/versions/3.13*/bin/python3.13; do try "$p"; done
echo "error: Python 3.13 not found. Install it (e.g. 'pyenv install 3.13') or set PYTHON313=/path/to/python3.13" >&2
exit 1
