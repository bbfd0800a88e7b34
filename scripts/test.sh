#!/usr/bin/env bash
# The whole test suite on a fresh machine, exactly as CI runs it (.ci/run calls this script):
#   1. Debian's Chromium for the real-browser test, when missing;
#   2. a virtual environment (.venv) with the pinned versions of constraints.txt, so that `pip check`
#      judges facetcoder's own dependency tree, not whatever else the machine has installed;
#   3. pytest. Extra arguments go to pytest (bash scripts/test.sh -k batch).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-browser.sh
python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -c constraints.txt -e ".[test]"
.venv/bin/python -m pip check
.venv/bin/python -m pytest -q "$@"
