// Key Vault with Azure RBAC (no access policies), soft delete and purge protection.

param name string
param location string
param tags object = {}

@description('Secrets to create now, as {name: value}; values come from secure parameters, never from outputs.')
@secure()
param secrets object = {}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  // checkov:skip=CKV_AZURE_109: Flex Consumption Key Vault references and AML use the public endpoint (no VNet here); RBAC-only access
  // checkov:skip=CKV_AZURE_189: same reason as CKV_AZURE_109: the vault must be reachable from the Function App without a VNet
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

resource vaultSecrets 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = [
  for secret in items(secrets): {
    // checkov:skip=CKV_AZURE_41: rotated by hand with an overlap window (docs/deploy.md); an expiry date would cut live approval links
    parent: vault
    name: secret.key
    properties: {
      value: secret.value
      contentType: 'text/plain'
      attributes: {
        enabled: true
      }
    }
  }
]

output id string = vault.id
output name string = vault.name
output uri string = vault.properties.vaultUri
