#!/usr/bin/env bash
# What the browser tests (tests/web/) need besides the Playwright pip package, which comes
# pinned from the dev lock (make's .installed-dev): Debian's Chromium. Playwright drives
# /usr/bin/chromium; it never downloads a browser of its own.
# Installs Chromium only when running as root; otherwise says what is missing and carries on
# (the tests then skip, unless TALLY_REQUIRE_BROWSER=1 makes them fail).
set -euo pipefail
cd "$(dirname "$0")/.."

CHROMIUM=/usr/bin/chromium

if [[ ! -x $CHROMIUM ]]; then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
        echo "browser-deps: installing Debian's chromium"
        export DEBIAN_FRONTEND=noninteractive
        { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium; } \
            >/dev/null || echo "browser-deps: could not install chromium; the browser tests will skip"
    else
        echo "browser-deps: $CHROMIUM is missing and this is not root with apt-get;" \
            "install Debian's chromium package to run the browser tests (they skip until then)"
    fi
fi
