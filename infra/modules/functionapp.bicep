// The Functions app on Flex Consumption: Linux, Python 3.11, system-assigned identity, identity-based host
// storage (AzureWebJobsStorage__accountName), deployment package in a blob container read with that identity,
// app settings with Key Vault references for secrets.

param planName string
param appName string
param location string
param tags object = {}

@description('Name of the host storage account (Durable task hub, deployment package).')
param hostStorageName string

@description('Blob container in the host storage account that holds the deployment package.')
param deploymentContainer string

@description('Name of the Application Insights component (its connection string is read here, never output).')
param appInsightsName string

@description('Upper bound of instances Flex Consumption may scale out to.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 40

@allowed([
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Factory settings (FACTORY_BACKEND, AML_*, ACR_*, ...): plain values and Key Vault references only.')
param factorySettings object

@description('Client id of the Entra ID app registration that signs approvers in (App Service Authentication in front of the approval page); empty = authentication off.')
param approverAuthClientId string = ''

var hostSettings = {
  AzureWebJobsStorage__accountName: hostStorageName
  AzureWebJobsStorage__credential: 'managedidentity'
  APPLICATIONINSIGHTS_CONNECTION_STRING: appInsights.properties.ConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'Authorization=AAD'
  PYTHON_SCRIPT_FILE_NAME: 'function_app'
}
var appSettings = union(hostSettings, factorySettings)

resource hostStorage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: hostStorageName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225: Flex Consumption zone redundancy exists only in some regions; enable it per region when needed
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
  }
}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_17: client certificates would break Event Grid delivery and the signed approval links; HTTP functions use function keys
  // checkov:skip=CKV_AZURE_222: public endpoint is required by Event Grid webhooks and approvers' browsers (no VNet here)
  // checkov:skip=CKV_AZURE_212: Flex Consumption scales to zero by design; there is no fixed instance count to fail over
  // checkov:skip=CKV_AZURE_213: Flex Consumption has no App Service health check; the platform monitors function hosts
  name: appName
  location: location
  tags: union(tags, {
    'azd-service-name': 'factory'
  })
  kind: 'functionapp,linux'
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    publicNetworkAccess: 'Enabled'
    clientCertEnabled: false
    siteConfig: {
      appSettings: [
        for setting in items(appSettings): {
          name: setting.key
          value: setting.value
        }
      ]
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${hostStorage.properties.primaryEndpoints.blob}${deploymentContainer}'
          authentication: {
            type: 'SystemAssignedIdentity'
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
}

resource basicPublishingFtp 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: app
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource basicPublishingScm 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: app
  name: 'scm'
  properties: {
    allow: false
  }
}

output id string = app.id
output name string = app.name
output principalId string = app.identity.principalId
output defaultHostName string = app.properties.defaultHostName

// App Service Authentication (Easy Auth) with Entra ID, in front of the approval page: the platform signs the
// approver in, strips client-sent X-MS-CLIENT-PRINCIPAL-* headers and sets its own, and sets WEBSITE_AUTH_ENABLED,
// which is when the app trusts the principal header (function_app/approvals.py). Unauthenticated requests are
// allowed through, because function-key routes and the Event Grid / Durable webhooks must stay reachable; the
// approval endpoint itself sends a caller without a principal to /.auth/login/aad first.
resource auth 'Microsoft.Web/sites/config@2024-04-01' = if (!empty(approverAuthClientId)) {
  // checkov:skip=CKV_AZURE_66: failed request tracing is a site (web) setting, not part of authsettingsV2
  // checkov:skip=CKV_AZURE_63: HTTP logging is a site (web) setting, not part of authsettingsV2
  // checkov:skip=CKV_AZURE_222: public endpoint is required by Event Grid webhooks and approvers' browsers (no VNet here)
  // checkov:skip=CKV_AZURE_80: a Python app: no .NET Framework version to set
  // checkov:skip=CKV_AZURE_13: this resource is the App Service Authentication; checkov looks for authSettings (v1)
  // checkov:skip=CKV_AZURE_88: Flex Consumption deploys from blob storage, no Azure Files
  // checkov:skip=CKV_AZURE_65: detailed error messages are a site (web) setting, not part of authsettingsV2
  parent: app
  name: 'authsettingsV2'
  properties: {
    platform: {
      enabled: true
    }
    globalValidation: {
      requireAuthentication: false
      unauthenticatedClientAction: 'AllowAnonymous'
    }
    identityProviders: {
      azureActiveDirectory: {
        enabled: true
        registration: {
          clientId: approverAuthClientId
          openIdIssuer: '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'
        }
        validation: {
          allowedAudiences: [
            'api://${approverAuthClientId}'
          ]
        }
      }
    }
    login: {
      tokenStore: {
        enabled: false
      }
    }
    httpSettings: {
      requireHttps: true
    }
  }
}
