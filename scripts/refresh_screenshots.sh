#!/usr/bin/env bash
# Refreshes the README's pictures in docs/ on purpose: the browser tests that take them write into a
# temporary folder on every other run, so a test run never changes tracked files.
set -euo pipefail
cd "$(dirname "$0")/.."
AIHELPER_SCREENSHOT_DIR=docs "${PYTHON:-python3}" -m pytest -q -k "screenshots or search_highlights" \
  tests/test_browser_chat.py tests/test_browser_history.py "$@"
