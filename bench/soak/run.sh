#!/bin/sh
# The lifecycle soaks, longer than CI runs them (CI: 5 SIGKILL rounds, 40 races per pair):
#   sudo bench/soak/run.sh
set -e
cd "$(dirname "$0")/../.."
BERTH_KILL_ROUNDS=${ROUNDS:-20} python3 -m pytest -q tests/integration/daemon/test_kill_rounds.py
python3 bench/lifecycle.py --races "${RACES:-300}"
