// The factory's image signing key: an EC P-256 key in the factory's Key Vault (ES256, cosign's key type) that
// never leaves the vault, and the one role that uses it: the Function App's identity may sign with it and read
// its public half (Key Vault Crypto User, scoped to this key only; no other key, no secrets, no management).
// factory/adapters/azure/keyvault.py signs image signatures and in-toto attestations with it (docs/security.md).

param keyVaultName string
param keyName string = 'image-signing'
param appPrincipalId string

var keyVaultCryptoUser = '12338af0-0e69-4776-bea7-57ae8d297424'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource signingKey 'Microsoft.KeyVault/vaults/keys@2023-07-01' = {
  // checkov:skip=CKV_AZURE_40: the signing key is rotated by hand with an overlap (docs/security.md); an expiry would stop every build at once
  // checkov:skip=CKV_AZURE_112: standard-tier vault (software-protected key); a Premium vault gives an HSM-backed key with the same API
  parent: vault
  name: keyName
  properties: {
    kty: 'EC'
    curveName: 'P-256'
    keyOps: [
      'sign'
      'verify'
    ]
    attributes: {
      enabled: true
      exportable: false
    }
  }
}

resource appSigns 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(signingKey.id, appPrincipalId, keyVaultCryptoUser)
  scope: signingKey
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultCryptoUser)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

output keyId string = signingKey.properties.keyUriWithVersion
