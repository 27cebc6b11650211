#!/usr/bin/env bash
# CI, after deploying an environment: start one factory run per model a change touches, through the app's
# POST /api/runs on the model's latest upload, with this commit as source_commit (the run's lineage shows it).
# Usage: scripts/retrain-changed.sh dev|prod BASE_REF   (az logged in; `make setup` done)
# Env:   RESOURCE_GROUP (default rg-model-factory-<env>). The function key is read with az, never stored.
set -euo pipefail
env_name="${1:?usage: scripts/retrain-changed.sh dev|prod BASE_REF}"
base="${2:?usage: scripts/retrain-changed.sh dev|prod BASE_REF}"
cd "$(dirname "$0")/.."
group="${RESOURCE_GROUP:-rg-model-factory-$env_name}"
models="$(.venv/bin/model-factory changed "$base")"
if [[ -z "$models" ]]; then
  echo "retrain-changed: no model changed since $base; nothing to retrain"
  exit 0
fi
app="$(az deployment group show --resource-group "$group" --name model-factory \
  --query properties.outputs.AZURE_FUNCTION_APP_NAME.value --output tsv)"
host="$(az functionapp show --resource-group "$group" --name "$app" --query defaultHostName --output tsv)"
key="$(az functionapp keys list --resource-group "$group" --name "$app" --query functionKeys.default --output tsv)"
# shellcheck disable=SC2086  # one argument per model name
FACTORY_FUNCTION_KEY="$key" .venv/bin/model-factory retrain $models --url "https://$host" \
  --commit "$(git rev-parse HEAD)"
