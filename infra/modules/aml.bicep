// Azure Machine Learning workspace with its own Key Vault, Application Insights and storage (identity-based
// datastores, shared keys off), its own container registry (admin user off) and a CPU compute cluster that scales to zero. The cluster has a system-assigned
// identity: role-assignments.bicep lets it read the incoming data container.

param workspaceName string
param location string
param tags object = {}

param storageAccountId string
param keyVaultId string
param appInsightsId string

@description('Registry for AML environment images; set so that AML never creates one itself (it would enable the admin user).')
param containerRegistryId string

@description('Name of the CPU compute cluster the factory submits its pipelines to (AML_COMPUTE).')
param computeName string = 'cpu-cluster'

@description('VM size of the compute cluster nodes.')
param computeVmSize string = 'Standard_DS3_v2'

@minValue(1)
param computeMaxNodes int = 2

@description('Idle time before a node is released (ISO 8601 duration).')
param nodeIdleTimeBeforeScaleDown string = 'PT120S'

resource workspace 'Microsoft.MachineLearningServices/workspaces@2024-10-01' = {
  // checkov:skip=CKV_AZURE_243: no private endpoint/VNet in this deployment: the Functions app submits jobs over the public endpoint with Entra ID
  name: workspaceName
  location: location
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  sku: {
    name: 'Basic'
    tier: 'Basic'
  }
  properties: {
    friendlyName: workspaceName
    storageAccount: storageAccountId
    keyVault: keyVaultId
    applicationInsights: appInsightsId
    containerRegistry: containerRegistryId
    publicNetworkAccess: 'Enabled'
    systemDatastoresAuthMode: 'identity'
    v1LegacyMode: false
  }
}

resource compute 'Microsoft.MachineLearningServices/workspaces/computes@2024-10-01' = {
  parent: workspace
  name: computeName
  location: location
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    computeType: 'AmlCompute'
    disableLocalAuth: true
    properties: {
      vmSize: computeVmSize
      vmPriority: 'Dedicated'
      osType: 'Linux'
      remoteLoginPortPublicAccess: 'Disabled'
      scaleSettings: {
        minNodeCount: 0
        maxNodeCount: computeMaxNodes
        nodeIdleTimeBeforeScaleDown: nodeIdleTimeBeforeScaleDown
      }
    }
  }
}

output id string = workspace.id
output name string = workspace.name
output computeName string = compute.name
output computePrincipalId string = compute.identity.principalId
