// Event Grid system topics (incoming storage, AML workspace, dev ACR) and their subscriptions to the Event Grid
// triggered functions. The subscriptions come from infra/eventgrid-subscriptions.json (loaded by main.bicep), the
// same file devhost routes by locally. Each topic has a system-assigned identity that writes undeliverable events
// to the dead-letter container.

param location string
param tags object = {}
param namePrefix string

@description('Source resource id per source key used in eventgrid-subscriptions.json: incomingStorage, amlWorkspace, devRegistry.')
param sources object

@description('The parsed infra/eventgrid-subscriptions.json.')
param config object

@description('Resource id of the Function App whose Event Grid triggered functions receive the events.')
param functionAppId string

@description('Storage account (name) holding the dead-letter container named in config.delivery.deadLetterContainer.')
param deadLetterStorageName string

@description('Create the subscriptions: only once the function code is published (Event Grid checks the function exists).')
param subscriptionsEnabled bool

var topicTypes = {
  incomingStorage: 'Microsoft.Storage.StorageAccounts'
  amlWorkspace: 'Microsoft.MachineLearningServices.Workspaces'
  devRegistry: 'Microsoft.ContainerRegistry.Registries'
}
var sourceKeys = [
  'incomingStorage'
  'amlWorkspace'
  'devRegistry'
]
var delivery = config.delivery
var storageBlobDataContributor = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'

resource deadLetterStorage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: deadLetterStorageName
}

resource deadLetterContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = {
  name: '${deadLetterStorageName}/default/${delivery.deadLetterContainer}'
}

resource topics 'Microsoft.EventGrid/systemTopics@2022-06-15' = [
  for key in sourceKeys: {
    name: '${namePrefix}-${key}'
    location: location
    tags: tags
    identity: {
      type: 'SystemAssigned'
    }
    properties: {
      source: sources[key]
      topicType: topicTypes[key]
    }
  }
]

// Each topic's identity may write (only) into the dead-letter container.
resource deadLetterWriters 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for (key, i) in sourceKeys: {
    name: guid(deadLetterContainer.id, key, storageBlobDataContributor)
    scope: deadLetterContainer
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributor)
      principalId: topics[i].identity.principalId
      principalType: 'ServicePrincipal'
    }
  }
]

resource eventSubscriptions 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15' = [
  for sub in config.subscriptions: if (subscriptionsEnabled) {
    name: '${namePrefix}-${sub.source}/${sub.name}'
    dependsOn: [
      topics
      deadLetterWriters
    ]
    properties: {
      eventDeliverySchema: 'EventGridSchema'
      destination: {
        endpointType: 'AzureFunction'
        properties: {
          resourceId: '${functionAppId}/functions/${sub.function}'
          maxEventsPerBatch: delivery.maxEventsPerBatch
          preferredBatchSizeInKilobytes: 64
        }
      }
      filter: {
        includedEventTypes: sub.includedEventTypes
        subjectBeginsWith: contains(sub, 'subjectBeginsWith') ? sub.subjectBeginsWith : ''
        subjectEndsWith: contains(sub, 'subjectEndsWith') ? sub.subjectEndsWith : ''
        advancedFilters: contains(sub, 'advancedFilters') ? sub.advancedFilters : []
      }
      retryPolicy: {
        maxDeliveryAttempts: delivery.maxDeliveryAttempts
        eventTimeToLiveInMinutes: delivery.eventTimeToLiveInMinutes
      }
      deadLetterWithResourceIdentity: {
        identity: {
          type: 'SystemAssigned'
        }
        deadLetterDestination: {
          endpointType: 'StorageBlob'
          properties: {
            resourceId: deadLetterStorage.id
            blobContainerName: delivery.deadLetterContainer
          }
        }
      }
    }
  }
]
