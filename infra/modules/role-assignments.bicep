// Every role the factory's identities hold, least privilege, scoped to the one resource (or container) they need.
// Role definition ids are Azure built-in roles, except the IoT Hub role below (no built-in role is narrower than
// IoT Hub Data Contributor, which would also allow device deletion, C2D messages and direct methods).
//
//   Function App identity
//     AML workspace ................ AzureML Data Scientist (submit pipeline jobs, read/tag/register models)
//     AML workspace storage ........ Storage Blob Data Contributor (the SDK uploads code snapshots; identity datastores)
//     dev ACR ...................... Container Registry Tasks Contributor (run the build-verify-push ACR Task)
//     dev ACR ...................... AcrPush (read manifests and digests, source side of the import into prod; write
//                                    the factory's signatures and attestations, tags sha256-<hex>.sig/.att). AcrPush
//                                    includes pull, so no AcrPull beside it.
//     prod ACR ..................... Container Registry Data Importer and Data Reader (importImage + pull: images
//                                    get to prod only by import, by digest) and AcrPush (promotion writes the copied
//                                    signatures and attestations and the prod-name signature beside the image)
//     IoT Hub ...................... Model Factory Edge Deployer (custom: configurations + apply to edge device, read twins, tag the device twin)
//     Key Vault .................... Key Vault Secrets User (resolve the app settings' Key Vault references)
//     incoming container ........... Storage Blob Data Reader (validate the uploaded CSV, read its etag)
//     validated container .......... Storage Blob Data Contributor (pin the validated bytes: validated/<run>/...)
//     host storage ................. Storage Blob Data Owner, Storage Queue Data Contributor, Storage Table Data
//                                    Contributor (AzureWebJobsStorage__accountName, Durable task hub, deployment package)
//     Application Insights ......... Monitoring Metrics Publisher (local auth is off on the component)
//   AML compute cluster identity
//     validated container .......... Storage Blob Data Reader (the pipeline reads the pinned, validated data)
//     AML workspace storage ........ Storage Blob Data Contributor (job outputs through identity-based datastores)
//     AML container registry ....... AcrPull (pull the training environment images)
//   The AML workspace identity gets its roles on its own storage, key vault and registry from the AML resource
//   provider when the workspace is created; assigning them here too would collide (RoleAssignmentExists).
//   Event Grid system topic identities: Storage Blob Data Contributor on the dead-letter container (eventgrid.bicep)

param appPrincipalId string
param amlComputePrincipalId string

param amlWorkspaceName string
param amlStorageName string
param amlRegistryName string
param devRegistryName string
param prodRegistryName string
param iotHubName string
param keyVaultName string
param incomingStorageName string
param incomingContainerName string
param validatedContainerName string
param hostStorageName string
param appInsightsName string

var roleIds = {
  azureMlDataScientist: 'f6c7c914-8db3-469d-8ca1-694a8f32e121'
  acrPull: '7f951dda-4ed3-4680-a7ca-43fe172d538d'
  acrPush: '8311e382-0749-4cb8-b61a-304f252e45ec'
  containerRegistryTasksContributor: 'fb382eab-e894-4461-af04-94435c366c3f'
  containerRegistryDataImporterAndDataReader: '577a9874-89fd-4f24-9dbd-b5034d0ad23a'
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  storageBlobDataReader: '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1'
  storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
}

resource amlWorkspace 'Microsoft.MachineLearningServices/workspaces@2024-10-01' existing = {
  name: amlWorkspaceName
}

resource amlStorage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: amlStorageName
}

resource amlRegistry 'Microsoft.ContainerRegistry/registries@2023-07-01' existing = {
  name: amlRegistryName
}

resource devRegistry 'Microsoft.ContainerRegistry/registries@2023-07-01' existing = {
  name: devRegistryName
}

resource prodRegistry 'Microsoft.ContainerRegistry/registries@2023-07-01' existing = {
  name: prodRegistryName
}

resource iotHub 'Microsoft.Devices/IotHubs@2023-06-30' existing = {
  name: iotHubName
}

resource keyVault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource incomingContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = {
  name: '${incomingStorageName}/default/${incomingContainerName}'
}

resource validatedContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = {
  name: '${incomingStorageName}/default/${validatedContainerName}'
}

resource hostStorage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: hostStorageName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

// IoT Hub data plane, only what the edge smoke test needs: deploy a manifest to the test device, read twins, and
// write the device twin's lease tag (factorySmokeLease) so parallel runs take turns on the device.
resource edgeDeployerRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(resourceGroup().id, 'model-factory-edge-deployer')
  properties: {
    roleName: 'Model Factory Edge Deployer ${uniqueString(resourceGroup().id)} (${resourceGroup().name})'
    description: 'Apply IoT Edge deployment manifests to a device, read device and module twins, tag the device twin.'
    type: 'customRole'
    assignableScopes: [
      resourceGroup().id
    ]
    permissions: [
      {
        actions: []
        notActions: []
        dataActions: [
          'Microsoft.Devices/IotHubs/configurations/read'
          'Microsoft.Devices/IotHubs/configurations/write'
          'Microsoft.Devices/IotHubs/configurations/delete'
          'Microsoft.Devices/IotHubs/configurations/applyToEdgeDevice/action'
          'Microsoft.Devices/IotHubs/twins/read'
          'Microsoft.Devices/IotHubs/twins/write'
          'Microsoft.Devices/IotHubs/devices/read'
        ]
        notDataActions: []
      }
    ]
  }
}

resource appAmlDataScientist 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(amlWorkspace.id, appPrincipalId, roleIds.azureMlDataScientist)
  scope: amlWorkspace
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.azureMlDataScientist)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource appAmlStorage 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(amlStorage.id, appPrincipalId, roleIds.storageBlobDataContributor)
  scope: amlStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.storageBlobDataContributor)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource appDevRegistryTasks 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(devRegistry.id, appPrincipalId, roleIds.containerRegistryTasksContributor)
  scope: devRegistry
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.containerRegistryTasksContributor)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource appDevRegistryPush 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(devRegistry.id, appPrincipalId, roleIds.acrPush)
  scope: devRegistry
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.acrPush)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource appProdRegistryImport 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(prodRegistry.id, appPrincipalId, roleIds.containerRegistryDataImporterAndDataReader)
  scope: prodRegistry
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.containerRegistryDataImporterAndDataReader)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource appProdRegistryPush 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(prodRegistry.id, appPrincipalId, roleIds.acrPush)
  scope: prodRegistry
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.acrPush)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource appIotHubEdgeDeployer 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(iotHub.id, appPrincipalId, edgeDeployerRole.id)
  scope: iotHub
  properties: {
    roleDefinitionId: edgeDeployerRole.id
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource appKeyVaultSecrets 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(keyVault.id, appPrincipalId, roleIds.keyVaultSecretsUser)
  scope: keyVault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.keyVaultSecretsUser)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource appIncomingReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(incomingContainer.id, appPrincipalId, roleIds.storageBlobDataReader)
  scope: incomingContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.storageBlobDataReader)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource appValidatedWriter 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(validatedContainer.id, appPrincipalId, roleIds.storageBlobDataContributor)
  scope: validatedContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.storageBlobDataContributor)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource appHostBlobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(hostStorage.id, appPrincipalId, roleIds.storageBlobDataOwner)
  scope: hostStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.storageBlobDataOwner)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource appHostQueue 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(hostStorage.id, appPrincipalId, roleIds.storageQueueDataContributor)
  scope: hostStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.storageQueueDataContributor)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource appHostTable 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(hostStorage.id, appPrincipalId, roleIds.storageTableDataContributor)
  scope: hostStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.storageTableDataContributor)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource appTelemetry 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, appPrincipalId, roleIds.monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.monitoringMetricsPublisher)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource computeValidatedReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(validatedContainer.id, amlComputePrincipalId, roleIds.storageBlobDataReader)
  scope: validatedContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.storageBlobDataReader)
    principalId: amlComputePrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource computeAmlStorage 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(amlStorage.id, amlComputePrincipalId, roleIds.storageBlobDataContributor)
  scope: amlStorage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.storageBlobDataContributor)
    principalId: amlComputePrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource computeAmlRegistryPull 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(amlRegistry.id, amlComputePrincipalId, roleIds.acrPull)
  scope: amlRegistry
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.acrPull)
    principalId: amlComputePrincipalId
    principalType: 'ServicePrincipal'
  }
}
