#!/usr/bin/env bash
# Build, test and measure fastkp on a GPU machine in one command:
#   tools/gpu_check.sh [--dry-run] [--budget SECONDS] OUT
# The work is done by tools/gpu_check.py (its docstring says what and how);
# this wrapper finds a Python: $PYTHON, else python3, else python.
set -euo pipefail
py=${PYTHON:-$(command -v python3 || command -v python || true)}
if [[ -z "$py" ]]; then
  echo "gpu_check.sh: no python3 or python on PATH (or set PYTHON)" >&2
  exit 2
fi
exec "$py" "$(dirname "$0")/gpu_check.py" "$@"
