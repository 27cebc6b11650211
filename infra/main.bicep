// Model Factory on Azure: every resource the factory needs, in one resource group.
// Deploy: azd up, or az deployment group create (docs/deploy.md). No output carries a key, password or
// connection string.

targetScope = 'resourceGroup'

@description('Environment name (dev, prod, ...): part of every resource name and the azd-env-name tag.')
@minLength(2)
@maxLength(12)
param environmentName string

@description('Azure region for every resource.')
param location string = resourceGroup().location

@description('IoT Edge device id of the smoke-test device (registered separately, see docs/deploy.md).')
param edgeDeviceId string = 'factory-smoke-device'

@description('Smoke-test IoT Edge module image (edge/smoke_module); empty = <dev ACR>/factory-edge-smoke:1.')
param edgeSmokeImage string = ''

@description('Fleet reporter module image (edge/fleet_reporter) in the prod ACR, pinned by digest and signed (docs/deploy.md); each rollout ring runs it beside the model. Empty = rings carry the model module only.')
param fleetReporterImage string = ''

@description('Public base URL of the signed approve/reject links; empty = https://<function app>.azurewebsites.net.')
param approvalBaseUrl string = ''

@description('Client id of the Entra ID app registration approvers sign in with (App Service Authentication); empty = off, approvers are recorded as unauthenticated link holders.')
param approverAuthClientId string = ''

@description('Optional webhook the approval request is posted to (e.g. a Teams/Slack incoming webhook); empty = none.')
param approvalWebhookUrl string = ''

@description('Approval signing key to store in Key Vault now. Leave empty to set the secret yourself (docs/deploy.md).')
@secure()
param approvalSigningKey string = ''

@description('Name of the Key Vault secret holding the previous approval key during a rotation; empty = no rotation.')
param approvalPreviousKeySecretName string = ''

@description('Create the Event Grid subscriptions: true only after the function code is published.')
param eventSubscriptionsEnabled bool = false

@description('VM size of the AML CPU compute cluster.')
param amlComputeVmSize string = 'Standard_DS3_v2'

@description('Maximum nodes of the AML CPU compute cluster (it scales to zero when idle).')
@minValue(1)
param amlComputeMaxNodes int = 2

@allowed([
  'Basic'
  'Standard'
  'Premium'
])
@description('SKU of the production container registry.')
param prodRegistrySku string = 'Standard'

@description('Maximum Flex Consumption instances.')
param functionMaximumInstanceCount int = 40

var token = toLower(uniqueString(subscription().id, resourceGroup().id, environmentName))
var tags = {
  'azd-env-name': environmentName
  application: 'model-factory'
}
var incomingContainer = 'incoming'
var validatedContainer = 'validated' // run-scoped copies of the validated bytes (factory/pinning.py)
var deploymentContainer = 'app-package'
var approvalKeySecretName = 'approval-signing-key'
var edgeRegistryPasswordSecretName = 'edge-registry-password'
var eventGridConfig = loadJsonContent('eventgrid-subscriptions.json')

var names = {
  logAnalytics: 'log-mf-${environmentName}-${token}'
  appInsights: 'appi-mf-${environmentName}-${token}'
  keyVault: 'kv-mf-${token}'
  hostStorage: 'stfn${token}'
  incomingStorage: 'stin${token}'
  plan: 'plan-mf-${environmentName}-${token}'
  functionApp: 'func-mf-${environmentName}-${token}'
  devRegistry: 'crmfdev${token}'
  prodRegistry: 'crmfprod${token}'
  iotHub: 'iot-mf-${environmentName}-${token}'
  amlWorkspace: 'mlw-mf-${environmentName}-${token}'
  amlStorage: 'stml${token}'
  amlKeyVault: 'kv-ml-${token}'
  amlAppInsights: 'appi-ml-${environmentName}-${token}'
  amlRegistry: 'crml${token}'
  eventGridPrefix: 'evgt-mf-${environmentName}'
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    logAnalyticsName: names.logAnalytics
    appInsightsName: names.appInsights
    location: location
    tags: tags
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyVault'
  params: {
    name: names.keyVault
    location: location
    tags: tags
    secrets: empty(approvalSigningKey) ? {} : {
      'approval-signing-key': approvalSigningKey
    }
  }
}

module hostStorage 'modules/storage.bicep' = {
  name: 'hostStorage'
  params: {
    name: names.hostStorage
    location: location
    tags: tags
    containers: [
      deploymentContainer
    ]
  }
}

module incomingStorage 'modules/storage.bicep' = {
  name: 'incomingStorage'
  params: {
    name: names.incomingStorage
    location: location
    tags: tags
    containers: [
      incomingContainer
      eventGridConfig.delivery.deadLetterContainer
      validatedContainer
    ]
  }
}

module devRegistry 'modules/registry.bicep' = {
  name: 'devRegistry'
  params: {
    name: names.devRegistry
    location: location
    tags: tags
    sku: 'Standard'
    edgePullToken: true
  }
}

module prodRegistry 'modules/registry.bicep' = {
  name: 'prodRegistry'
  params: {
    name: names.prodRegistry
    location: location
    tags: tags
    sku: prodRegistrySku
  }
}

module iotHub 'modules/iothub.bicep' = {
  name: 'iotHub'
  params: {
    name: names.iotHub
    location: location
    tags: tags
  }
}

module amlStorage 'modules/storage.bicep' = {
  name: 'amlStorage'
  params: {
    name: names.amlStorage
    location: location
    tags: tags
  }
}

module amlKeyVault 'modules/keyvault.bicep' = {
  name: 'amlKeyVault'
  params: {
    name: names.amlKeyVault
    location: location
    tags: tags
  }
}

module amlMonitoring 'modules/monitoring.bicep' = {
  name: 'amlMonitoring'
  params: {
    logAnalyticsName: '${names.logAnalytics}-ml'
    appInsightsName: names.amlAppInsights
    location: location
    tags: tags
  }
}

module amlRegistry 'modules/registry.bicep' = {
  name: 'amlRegistry'
  params: {
    name: names.amlRegistry
    location: location
    tags: tags
    sku: 'Basic'
  }
}

module aml 'modules/aml.bicep' = {
  name: 'aml'
  params: {
    workspaceName: names.amlWorkspace
    location: location
    tags: tags
    storageAccountId: amlStorage.outputs.id
    keyVaultId: amlKeyVault.outputs.id
    appInsightsId: amlMonitoring.outputs.appInsightsId
    containerRegistryId: amlRegistry.outputs.id
    computeVmSize: amlComputeVmSize
    computeMaxNodes: amlComputeMaxNodes
  }
}

// The settings the factory reads (factory/settings.py and the Azure adapters); documented in docs/deploy.md.
var signingKeyName = 'image-signing' // modules/signing.bicep: the app signs with its current version
var keyVaultReference = '@Microsoft.KeyVault(VaultName=${names.keyVault};SecretName='
var factorySettings = {
  FACTORY_BACKEND: 'azure'
  AZURE_SUBSCRIPTION_ID: subscription().subscriptionId
  AZURE_RESOURCE_GROUP: resourceGroup().name
  AML_WORKSPACE: aml.outputs.name
  AML_COMPUTE: aml.outputs.computeName
  FACTORY_DEV_ACR_NAME: devRegistry.outputs.name
  FACTORY_PROD_ACR_NAME: prodRegistry.outputs.name
  FACTORY_ACR_RESOURCE_GROUP: resourceGroup().name
  IOTHUB_HOSTNAME: iotHub.outputs.hostName
  IOTHUB_EDGE_DEVICE_ID: edgeDeviceId
  EDGE_REGISTRY_ADDRESS: devRegistry.outputs.loginServer
  EDGE_REGISTRY_USERNAME: 'edge-pull'
  EDGE_REGISTRY_PASSWORD: '${keyVaultReference}${edgeRegistryPasswordSecretName})'
  FACTORY_EDGE_SMOKE_IMAGE: empty(edgeSmokeImage) ? '${devRegistry.outputs.loginServer}/factory-edge-smoke:1' : edgeSmokeImage
  FACTORY_FLEET_REPORTER_IMAGE: fleetReporterImage
  INCOMING_STORAGE_ACCOUNT_URL: incomingStorage.outputs.blobEndpoint
  APPROVAL_SIGNING_KEY: '${keyVaultReference}${approvalKeySecretName})'
  FACTORY_SIGNING_KEY_ID: 'https://${names.keyVault}${environment().suffixes.keyvaultDns}/keys/${signingKeyName}'
  APPROVAL_BASE_URL: empty(approvalBaseUrl) ? 'https://${names.functionApp}.azurewebsites.net' : approvalBaseUrl
  APPROVAL_WEBHOOK_URL: approvalWebhookUrl
}
var rotationSettings = empty(approvalPreviousKeySecretName) ? {} : {
  APPROVAL_SIGNING_KEY_PREVIOUS: '${keyVaultReference}${approvalPreviousKeySecretName})'
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionApp'
  params: {
    planName: names.plan
    appName: names.functionApp
    location: location
    tags: tags
    hostStorageName: hostStorage.outputs.name
    deploymentContainer: deploymentContainer
    appInsightsName: monitoring.outputs.appInsightsName
    maximumInstanceCount: functionMaximumInstanceCount
    factorySettings: union(factorySettings, rotationSettings)
    approverAuthClientId: approverAuthClientId
  }
}

module roles 'modules/role-assignments.bicep' = {
  name: 'roleAssignments'
  params: {
    appPrincipalId: functionApp.outputs.principalId
    amlComputePrincipalId: aml.outputs.computePrincipalId
    amlWorkspaceName: aml.outputs.name
    amlStorageName: amlStorage.outputs.name
    amlRegistryName: amlRegistry.outputs.name
    devRegistryName: devRegistry.outputs.name
    prodRegistryName: prodRegistry.outputs.name
    iotHubName: iotHub.outputs.name
    keyVaultName: keyVault.outputs.name
    incomingStorageName: incomingStorage.outputs.name
    incomingContainerName: incomingContainer
    validatedContainerName: validatedContainer
    hostStorageName: hostStorage.outputs.name
    appInsightsName: monitoring.outputs.appInsightsName
  }
}

// The image signing key (EC P-256 in the factory's vault) and the app's right to sign with it, that key only.
module signing 'modules/signing.bicep' = {
  name: 'signing'
  params: {
    keyVaultName: keyVault.outputs.name
    keyName: signingKeyName
    appPrincipalId: functionApp.outputs.principalId
  }
}

module eventGrid 'modules/eventgrid.bicep' = {
  name: 'eventGrid'
  params: {
    location: location
    tags: tags
    namePrefix: names.eventGridPrefix
    config: eventGridConfig
    sources: {
      incomingStorage: incomingStorage.outputs.id
      amlWorkspace: aml.outputs.id
      devRegistry: devRegistry.outputs.id
    }
    functionAppId: functionApp.outputs.id
    deadLetterStorageName: incomingStorage.outputs.name
    subscriptionsEnabled: eventSubscriptionsEnabled
  }
}

// Names and endpoints only (azd turns these into environment values; the pipelines read them).
output AZURE_RESOURCE_GROUP string = resourceGroup().name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output FUNCTION_APP_URL string = 'https://${functionApp.outputs.defaultHostName}'
output KEY_VAULT_NAME string = keyVault.outputs.name
output FACTORY_SIGNING_KEY_ID string = signing.outputs.keyId
output ACR_DEV_NAME string = devRegistry.outputs.name
output ACR_DEV_LOGIN_SERVER string = devRegistry.outputs.loginServer
output ACR_PROD_NAME string = prodRegistry.outputs.name
output ACR_PROD_LOGIN_SERVER string = prodRegistry.outputs.loginServer
output AML_WORKSPACE string = aml.outputs.name
output AML_COMPUTE string = aml.outputs.computeName
output IOTHUB_NAME string = iotHub.outputs.name
output IOTHUB_HOSTNAME string = iotHub.outputs.hostName
output INCOMING_STORAGE_ACCOUNT_URL string = incomingStorage.outputs.blobEndpoint
