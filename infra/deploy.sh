#!/usr/bin/env bash
# Deploy the Model Factory to one environment, in the order Azure needs:
#   1. infra/main.bicep with the Event Grid subscriptions off (they need the functions to exist),
#   2. the Functions app code (Functions Core Tools, remote build on Flex Consumption),
#   3. infra/main.bicep again with the Event Grid subscriptions on.
# Usage:  AZURE_LOCATION=westeurope infra/deploy.sh dev|prod [name=value ...]   (extra Bicep parameters)
# Needs:  az (logged in to the target subscription), func (Azure Functions Core Tools 4).
# Env:    AZURE_LOCATION (required), RESOURCE_GROUP (default rg-model-factory-<env>).
set -euo pipefail

env_name="${1:?usage: infra/deploy.sh dev|prod [name=value ...]}"
shift
here="$(cd "$(dirname "$0")" && pwd)"
params="$here/main.$env_name.parameters.json"
if [[ ! -f "$params" ]]; then
  echo "deploy.sh: no parameter file $params (expected main.<env>.parameters.json)" >&2
  exit 2
fi
location="${AZURE_LOCATION:?deploy.sh: set AZURE_LOCATION, e.g. westeurope}"
group="${RESOURCE_GROUP:-rg-model-factory-$env_name}"

deploy_infra() {  # $1: eventSubscriptionsEnabled (true|false), then extra parameters; prints the app name
  local enabled="$1"
  shift
  az deployment group create \
    --resource-group "$group" \
    --name model-factory \
    --template-file "$here/main.bicep" \
    --parameters "@$params" \
    --parameters eventSubscriptionsEnabled="$enabled" "$@" \
    --query properties.outputs.AZURE_FUNCTION_APP_NAME.value \
    --output tsv
}

az group create --name "$group" --location "$location" --output none
app="$(deploy_infra false "$@")"
if [[ -z "$app" ]]; then
  echo "deploy.sh: the deployment returned no AZURE_FUNCTION_APP_NAME output" >&2
  exit 1
fi
(cd "$here/.." && func azure functionapp publish "$app" --python)
deploy_infra true "$@" >/dev/null
echo "deploy.sh: $env_name deployed: resource group $group, function app $app"
