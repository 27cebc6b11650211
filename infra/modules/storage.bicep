// A locked-down StorageV2 account: Entra ID (RBAC) only, TLS 1.2, HTTPS only, no public blob access.
// Used for the Function App host (Durable task hub + deployment package), the incoming data and AML.

@description('Storage account name (3-24 lowercase letters and digits).')
@minLength(3)
@maxLength(24)
param name string

param location string
param tags object = {}

@description('Blob containers to create (private).')
param containers array = []

@description('Days a deleted blob or container stays recoverable.')
param deleteRetentionDays int = 7

@description('Keep every version of every blob (an overwritten upload stays readable by its versionId).')
param versioning bool = true

// Network: the Flex Consumption app (no VNet integration), AML serverless jobs and Event Grid reach this account over
// its public endpoint; access is Entra ID + RBAC only (shared keys off), so the firewall stays open.
resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_35: public endpoint with RBAC-only access; no VNet in this deployment (see docs/deploy.md)
  // checkov:skip=CKV_AZURE_59: public endpoint with RBAC-only access; no VNet in this deployment (see docs/deploy.md)
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_GRS' // geo-redundant: the incoming data and model artifacts survive a regional outage
  }
  properties: {
    accessTier: 'Hot'
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowCrossTenantReplication: false
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
    encryption: {
      keySource: 'Microsoft.Storage'
      requireInfrastructureEncryption: true
      services: {
        blob: {
          enabled: true
        }
        file: {
          enabled: true
        }
        queue: {
          enabled: true
          keyType: 'Account'
        }
        table: {
          enabled: true
          keyType: 'Account'
        }
      }
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    isVersioningEnabled: versioning
    deleteRetentionPolicy: {
      enabled: true
      days: deleteRetentionDays
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: deleteRetentionDays
    }
  }
}

resource blobContainers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [
  for container in containers: {
    parent: blobService
    name: container
    properties: {
      publicAccess: 'None'
    }
  }
]

output id string = account.id
output name string = account.name
output blobEndpoint string = account.properties.primaryEndpoints.blob
