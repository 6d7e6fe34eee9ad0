#!/usr/bin/env bash
# What the browser tests (tests/web/) need: Debian's Chromium and the Playwright pip package.
# Playwright drives /usr/bin/chromium; it never downloads a browser of its own.
# Installs Chromium only when running as root; otherwise says what is missing and carries on
# (the tests then skip, unless TALLY_REQUIRE_BROWSER=1 makes them fail).
set -euo pipefail
cd "$(dirname "$0")/.."

CHROMIUM=/usr/bin/chromium
PIP=.venv/bin/pip
PYTHON=.venv/bin/python

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

if [[ -x $PYTHON ]] && ! $PYTHON -c 'import playwright' 2>/dev/null; then
    echo "browser-deps: installing the playwright Python package into .venv"
    $PIP install --quiet 'playwright>=1.45' \
        || echo "browser-deps: could not install playwright; the browser tests will skip"
fi
