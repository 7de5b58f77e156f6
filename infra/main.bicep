// The invitation service in Azure: Flex Consumption function app, user-assigned managed identity,
// storage with shared-key access off (identity-based settings only), Azure Communication Services Email.
targetScope = 'resourceGroup'

@description('Short name used in resource names.')
param name string = 'invites'
param location string = resourceGroup().location
@description('Public base URL of the app, used in every emailed link (never the request Host header).')
param publicBaseUrl string
@description('Partner token issuer, audience and JWKS (the partners\' identity provider).')
param partnerAuthIssuer string
param partnerAuthAudience string
param partnerAuthJwksUrl string
@description('Customer sign-in: Entra ID or Entra External ID authority and app registration.')
param authAuthority string
param authClientId string
@secure()
param authClientSecret string
@secure()
param sessionSecret string
param emailSenderDomain string = 'AzureManagedDomain'

var suffix = uniqueString(resourceGroup().id, name)

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-${name}-${suffix}'
  location: location
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: 'st${take(replace(name, '-', ''), 10)}${suffix}'
  location: location
  sku: { name: 'Standard_LRS' }
  kind: 'StorageV2'
  properties: {
    allowSharedKeyAccess: false // identity only: no keys exist to leak
    allowBlobPublicAccess: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource deployments 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: 'deployments'
}

// Role ids: https://learn.microsoft.com/azure/role-based-access-control/built-in-roles
var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b' // deployment package + host locks
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88' // email queue
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3' // every table of the app
}

resource roleAssignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for role in items(roles): {
  name: guid(storage.id, identity.id, role.value)
  scope: storage
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role.value)
  }
}]

resource emailService 'Microsoft.Communication/emailServices@2023-04-01' = {
  name: 'email-${name}-${suffix}'
  location: 'global'
  properties: { dataLocation: 'Europe' }
}

resource emailDomain 'Microsoft.Communication/emailServices/domains@2023-04-01' = {
  parent: emailService
  name: emailSenderDomain
  location: 'global'
  properties: { domainManagement: 'AzureManaged' }
}

resource communication 'Microsoft.Communication/communicationServices@2023-04-01' = {
  name: 'acs-${name}-${suffix}'
  location: 'global'
  properties: {
    dataLocation: 'Europe'
    linkedDomains: [ emailDomain.id ]
  }
}

// Contributor on the ACS resource lets the managed identity send mail (no connection string needed).
resource acsSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(communication.id, identity.id, 'b24988ac-6180-42a0-ab88-20f7382dd24c')
  scope: communication
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'b24988ac-6180-42a0-ab88-20f7382dd24c')
  }
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: 'plan-${name}-${suffix}'
  location: location
  kind: 'functionapp'
  sku: { tier: 'FlexConsumption', name: 'FC1' }
  properties: { reserved: true }
}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  name: 'func-${name}-${suffix}'
  location: location
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identity.id}': {} }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}deployments'
          authentication: { type: 'UserAssignedIdentity', userAssignedIdentityResourceId: identity.id }
        }
      }
      scaleAndConcurrency: { maximumInstanceCount: 40, instanceMemoryMB: 2048 }
      runtime: { name: 'python', version: '3.11' }
    }
    siteConfig: {
      minTlsVersion: '1.2'
      appSettings: [
        { name: 'AzureWebJobsStorage__credential', value: 'managedidentity' }
        { name: 'AzureWebJobsStorage__clientId', value: identity.properties.clientId }
        { name: 'AzureWebJobsStorage__blobServiceUri', value: storage.properties.primaryEndpoints.blob }
        { name: 'AzureWebJobsStorage__queueServiceUri', value: storage.properties.primaryEndpoints.queue }
        { name: 'AzureWebJobsStorage__tableServiceUri', value: storage.properties.primaryEndpoints.table }
        { name: 'AZURE_CLIENT_ID', value: identity.properties.clientId } // DefaultAzureCredential picks this identity
        { name: 'PUBLIC_BASE_URL', value: publicBaseUrl }
        { name: 'PARTNER_AUTH_ISSUER', value: partnerAuthIssuer }
        { name: 'PARTNER_AUTH_AUDIENCE', value: partnerAuthAudience }
        { name: 'PARTNER_AUTH_JWKS_URL', value: partnerAuthJwksUrl }
        { name: 'AUTH_AUTHORITY', value: authAuthority }
        { name: 'AUTH_CLIENT_ID', value: authClientId }
        { name: 'AUTH_CLIENT_SECRET', value: authClientSecret }
        { name: 'SESSION_SECRET', value: sessionSecret }
        { name: 'ACS_ENDPOINT', value: 'https://${communication.properties.hostName}' }
        { name: 'EMAIL_SENDER', value: 'DoNotReply@${emailDomain.properties.mailFromSenderDomain}' }
        { name: 'EMAIL_QUEUE', value: 'invitation-emails' }
        { name: 'EXPIRE_SCHEDULE', value: '0 0 * * * *' }
      ]
    }
  }
}

output appUrl string = 'https://${app.properties.defaultHostName}'
