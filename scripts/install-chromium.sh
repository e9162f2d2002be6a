#!/usr/bin/env bash
# The console's browser tests drive Debian's Chromium with Playwright's Python API (Playwright's own
# browser download is not needed). Installs it when missing and apt-get can (as root); otherwise
# says so, and those tests skip with the same reason.
set -u
command -v chromium >/dev/null && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq chromium >/dev/null 2>&1 \
        || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq chromium >/dev/null 2>&1; }
fi
command -v chromium >/dev/null || echo "Chromium could not be installed: the console's browser tests will be skipped"
exit 0
