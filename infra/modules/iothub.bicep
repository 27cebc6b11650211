// IoT Hub for the smoke-test IoT Edge device. Service access is Entra ID only (shared access policies off);
// the edge device authenticates with its own device credentials, which this template does not create.

param name string
param location string
param tags object = {}

@allowed([
  'S1'
  'S2'
  'S3'
])
param sku string = 'S1'

resource hub 'Microsoft.Devices/IotHubs@2023-06-30' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: sku
    capacity: 1
  }
  properties: {
    minTlsVersion: '1.2'
    disableLocalAuth: true
    publicNetworkAccess: 'Enabled'
  }
}

output id string = hub.id
output name string = hub.name
output hostName string = hub.properties.hostName
