#!/usr/bin/env bash
# CI: for each model folder a change touches (or every model when the kit changed), `model-factory check` it
# and run its own tests. Usage: scripts/check-changed.sh BASE_REF   (needs `make setup` first)
set -euo pipefail
base="${1:?usage: scripts/check-changed.sh BASE_REF}"
cd "$(dirname "$0")/.."
models="$(.venv/bin/model-factory changed "$base")"
if [[ -z "$models" ]]; then
  echo "check-changed: no model changed since $base"
  exit 0
fi
for model in $models; do
  echo "check-changed: $model"
  .venv/bin/model-factory check "$model"
  if [[ -d "models/$model/tests" ]]; then
    .venv/bin/python -m pytest -q "models/$model/tests"
  fi
done
