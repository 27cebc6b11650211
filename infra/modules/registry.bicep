// Azure Container Registry with the admin user off and anonymous pull off. Identities use Entra ID + RBAC;
// the edge device (which cannot use a managed identity) gets a pull-only repository token when edgePullToken is set.

@description('Registry name (5-50 letters and digits).')
@minLength(5)
@maxLength(50)
param name string

param location string
param tags object = {}

@allowed([
  'Basic'
  'Standard'
  'Premium'
])
param sku string = 'Standard'

@description('Create a pull-only repository token for the IoT Edge device (its password is generated outside Bicep).')
param edgePullToken bool = false

resource registry 'Microsoft.ContainerRegistry/registries@2023-07-01' = {
  // checkov:skip=CKV_AZURE_139: ACR Tasks, the Functions app and the edge device reach the registry over its public endpoint (no VNet here)
  // checkov:skip=CKV_AZURE_163: vulnerability scanning is Defender for Containers, enabled per subscription, not per registry
  // checkov:skip=CKV_AZURE_166: quarantine is a Premium preview; images are verified by the ACR Task before they are pushed
  // checkov:skip=CKV_AZURE_233: zone redundancy is a Premium feature; the sku parameter allows Premium where it is needed
  name: name
  location: location
  tags: tags
  sku: {
    name: sku
  }
  properties: {
    adminUserEnabled: false
    anonymousPullEnabled: false
    publicNetworkAccess: 'Enabled'
    zoneRedundancy: 'Disabled'
  }
}

resource edgeToken 'Microsoft.ContainerRegistry/registries/tokens@2023-07-01' = if (edgePullToken) {
  parent: registry
  name: 'edge-pull'
  properties: {
    scopeMapId: '${registry.id}/scopeMaps/_repositories_pull'
    status: 'enabled'
  }
}

output id string = registry.id
output name string = registry.name
output loginServer string = registry.properties.loginServer
