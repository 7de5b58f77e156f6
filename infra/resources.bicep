// Everything the invitation service runs on, in one resource group: Flex Consumption function app in a
// virtual network, storage and Key Vault reachable only through private endpoints, identity-based access
// everywhere (no storage keys, no ACS keys, no Application Insights keys), Azure Communication Services Email.
targetScope = 'resourceGroup'

param location string
param tags object
@description('toLower(uniqueString(...)): makes every name unique; its fixed length keeps every name within its rule.')
@minLength(13)
@maxLength(13)
param resourceToken string
param publicBaseUrl string
param platformName string
param supportEmail string
param docsUrl string
param platformTenantId string
param verifiedEmailTenants string
param partnerAuthIssuer string
param partnerAuthAudience string
param partnerAuthJwksUrl string
param authAuthority string
param authClientId string
@secure()
param authClientSecret string
param authClientSecretExpiresOn string
@secure()
param sessionSecret string
param emailCustomDomain string
param emailCustomDomainVerified bool
param emailDataLocation string
param maximumInstanceCount int
param alwaysReadyHttpInstances int
param httpPerInstanceConcurrency int
param zoneRedundant bool

// Name rules: storage 3-24 lowercase letters and digits; Key Vault 3-24 letters, digits, hyphens; sites 2-60.
var storageAccountName = 'st${resourceToken}' // 15 characters
var keyVaultName = 'kv-${resourceToken}' // 16 characters
var functionAppName = 'func-invites-${resourceToken}' // 26 characters
var deploymentContainerName = 'app-package'
var appUrl = 'https://${functionAppName}.azurewebsites.net'
var baseUrl = empty(publicBaseUrl) ? appUrl : (endsWith(publicBaseUrl, '/') ? substring(publicBaseUrl, 0, length(publicBaseUrl) - 1) : publicBaseUrl)
var useCustomDomain = !empty(emailCustomDomain) && emailCustomDomainVerified

// Built-in role ids: https://learn.microsoft.com/azure/role-based-access-control/built-in-roles
var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b' // deployment package and host locks (Flex needs Owner on blob)
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88' // the email and webhooks queues and their poison queues
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3' // every table of the app
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6' // resolves the Key Vault references, reads nothing else
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb' // telemetry with Entra auth (local auth is off)
}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-invites-${resourceToken}'
  location: location
  tags: tags
}

// ---------------------------------------------------------------- network
resource vnet 'Microsoft.Network/virtualNetworks@2024-05-01' = {
  name: 'vnet-${resourceToken}'
  location: location
  tags: tags
  properties: {
    addressSpace: { addressPrefixes: ['10.0.0.0/16'] }
    subnets: [
      {
        name: 'app'
        properties: {
          addressPrefix: '10.0.1.0/24'
          networkSecurityGroup: { id: nsg.id }
          delegations: [{ name: 'flex', properties: { serviceName: 'Microsoft.App/environments' } }]
        }
      }
      {
        name: 'private-endpoints'
        properties: {
          addressPrefix: '10.0.2.0/24'
          networkSecurityGroup: { id: nsg.id }
          privateEndpointNetworkPolicies: 'Disabled'
        }
      }
    ]
  }
}

// No inbound rules of its own: the defaults allow traffic inside the virtual network only.
resource nsg 'Microsoft.Network/networkSecurityGroups@2024-05-01' = {
  name: 'nsg-${resourceToken}'
  location: location
  tags: tags
  properties: { securityRules: [] }
}

var privateEndpoints = [
  { name: 'blob', target: storage.id, zone: 'privatelink.blob.${environment().suffixes.storage}' }
  { name: 'queue', target: storage.id, zone: 'privatelink.queue.${environment().suffixes.storage}' }
  { name: 'table', target: storage.id, zone: 'privatelink.table.${environment().suffixes.storage}' }
  { name: 'vault', target: vault.id, zone: 'privatelink.vaultcore.azure.net' }
]

resource dnsZones 'Microsoft.Network/privateDnsZones@2024-06-01' = [for pe in privateEndpoints: {
  name: pe.zone
  location: 'global'
  tags: tags
}]

resource dnsLinks 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2024-06-01' = [for (pe, i) in privateEndpoints: {
  parent: dnsZones[i]
  name: 'vnet-${resourceToken}'
  location: 'global'
  tags: tags
  properties: {
    registrationEnabled: false
    virtualNetwork: { id: vnet.id }
  }
}]

resource endpoints 'Microsoft.Network/privateEndpoints@2024-05-01' = [for pe in privateEndpoints: {
  name: 'pe-${pe.name}-${resourceToken}'
  location: location
  tags: tags
  properties: {
    subnet: { id: '${vnet.id}/subnets/private-endpoints' }
    privateLinkServiceConnections: [
      { name: pe.name, properties: { privateLinkServiceId: pe.target, groupIds: [pe.name] } }
    ]
  }
}]

resource endpointDns 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2024-05-01' = [for (pe, i) in privateEndpoints: {
  parent: endpoints[i]
  name: 'default'
  properties: {
    privateDnsZoneConfigs: [{ name: pe.name, properties: { privateDnsZoneId: dnsZones[i].id } }]
  }
}]

// ---------------------------------------------------------------- storage
// The app's tables and queues and the deployment package. Geo-redundant: the tables are the only copy of
// invitations, companies and relationships. Reached only through the private endpoints, only with Entra ID.
resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_43: the name is 'st' + resourceToken, which is toLower(uniqueString()) and held to 13 characters by its decorators: 15 lowercase letters and digits; checkov does not evaluate Bicep variables
  name: storageAccountName
  location: location
  tags: tags
  sku: { name: 'Standard_GRS' }
  kind: 'StorageV2'
  properties: {
    accessTier: 'Hot'
    allowSharedKeyAccess: false
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Disabled'
    // Trusted Azure services (backup, monitoring) only through their own managed identity and RBAC.
    networkAcls: { defaultAction: 'Deny', bypass: 'AzureServices' }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
  properties: {
    deleteRetentionPolicy: { enabled: true, days: 7 }
    containerDeleteRetentionPolicy: { enabled: true, days: 7 }
  }
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: { publicAccess: 'None' }
}

// ---------------------------------------------------------------- secrets
// The two secrets of the app live here only; the app settings hold Key Vault references to them.
resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: keyVaultName
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    publicNetworkAccess: 'Disabled'
    networkAcls: { defaultAction: 'Deny', bypass: 'None' }
  }
}

resource authClientSecretValue 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'auth-client-secret'
  properties: {
    value: authClientSecret
    contentType: 'text/plain'
    // Entra's own expiry of the client secret, so Key Vault's near-expiry events warn before sign-in breaks.
    attributes: { enabled: true, exp: dateTimeToEpoch('${authClientSecretExpiresOn}T00:00:00Z') }
  }
}

resource sessionSecretValue 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'session-secret'
  // checkov:skip=CKV_AZURE_41: the session key expires at no date of its own; rotating it signs every customer out, so it is rotated by decision (infra/README.md), not by a made-up date
  properties: {
    value: sessionSecret
    contentType: 'text/plain'
    attributes: { enabled: true }
  }
}

// ---------------------------------------------------------------- monitoring
resource logs 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: 'log-${resourceToken}'
  location: location
  tags: tags
  properties: {
    sku: { name: 'PerGB2018' }
    retentionInDays: 30
  }
}

// Local auth off: only Entra-authenticated telemetry (the app's identity, Monitoring Metrics Publisher) is accepted.
resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: 'appi-${resourceToken}'
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logs.id
    DisableLocalAuth: true
  }
}

// ---------------------------------------------------------------- email
resource emailService 'Microsoft.Communication/emailServices@2023-04-01' = {
  name: 'email-${resourceToken}'
  location: 'global'
  tags: tags
  properties: { dataLocation: emailDataLocation }
}

// Works at once with a low sending quota; production mail goes out from a verified custom domain.
resource managedDomain 'Microsoft.Communication/emailServices/domains@2023-04-01' = {
  parent: emailService
  name: 'AzureManagedDomain'
  location: 'global'
  tags: tags
  properties: { domainManagement: 'AzureManaged', userEngagementTracking: 'Disabled' }
}

resource customDomain 'Microsoft.Communication/emailServices/domains@2023-04-01' = if (!empty(emailCustomDomain)) {
  parent: emailService
  name: empty(emailCustomDomain) ? 'unused' : emailCustomDomain
  location: 'global'
  tags: tags
  properties: { domainManagement: 'CustomerManaged', userEngagementTracking: 'Disabled' }
}

resource communication 'Microsoft.Communication/communicationServices@2023-04-01' = {
  name: 'acs-${resourceToken}'
  location: 'global'
  tags: tags
  properties: {
    dataLocation: emailDataLocation
    // A domain can be linked only once it is verified (see EMAIL_CUSTOM_DOMAIN_VERIFIED in infra/README.md).
    linkedDomains: useCustomDomain ? [managedDomain.id, customDomain.id] : [managedDomain.id]
  }
}

// ACS has no data action for sending: the smallest documented set for Entra-authenticated email is these three.
// Unlike Contributor it cannot list or regenerate the access keys, delete the resource or touch anything else.
resource emailSenderRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(resourceGroup().id, 'acs-email-sender')
  properties: {
    roleName: 'ACS email sender (${resourceToken})'
    description: 'Send email through one Azure Communication Services resource with Microsoft Entra ID.'
    type: 'CustomRole'
    assignableScopes: [resourceGroup().id]
    permissions: [
      {
        actions: [
          'Microsoft.Communication/CommunicationServices/Read'
          'Microsoft.Communication/CommunicationServices/Write'
          'Microsoft.Communication/EmailServices/write'
        ]
        notActions: []
        dataActions: []
        notDataActions: []
      }
    ]
  }
}

// ---------------------------------------------------------------- function app
resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: 'plan-${resourceToken}'
  location: location
  tags: tags
  kind: 'functionapp'
  sku: { tier: 'FlexConsumption', name: 'FC1' }
  // checkov:skip=CKV_AZURE_225: zone redundancy on Flex Consumption bills two always-ready instances for every scaling group (five here); the zoneRedundant parameter turns it on where the region offers it
  properties: { reserved: true, zoneRedundant: zoneRedundant }
}

var emailSender = 'DoNotReply@${useCustomDomain ? customDomain.properties.mailFromSenderDomain : managedDomain.properties.mailFromSenderDomain}'

resource app 'Microsoft.Web/sites@2024-04-01' = {
  name: functionAppName
  location: location
  tags: union(tags, { 'azd-service-name': 'api' }) // azd deploys the `api` service of azure.yaml here
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identity.id}': {} }
  }
  // checkov:skip=CKV_AZURE_222: the app is the public product: customers open emailed links from anywhere and partners call the API from their own systems
  // checkov:skip=CKV_AZURE_17: customers sign in from ordinary browsers and partners present bearer tokens; nobody holds a client certificate
  // checkov:skip=CKV_AZURE_212: numberOfWorkers does not exist on Flex Consumption; alwaysReady below keeps instances warm and the platform replaces failed ones
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertEnabled: false
    publicNetworkAccess: 'Enabled'
    virtualNetworkSubnetId: '${vnet.id}/subnets/app'
    keyVaultReferenceIdentity: identity.id
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: { type: 'UserAssignedIdentity', userAssignedIdentityResourceId: identity.id }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: 2048
        triggers: { http: { perInstanceConcurrency: httpPerInstanceConcurrency } }
        alwaysReady: alwaysReadyHttpInstances > 0 ? [{ name: 'http', instanceCount: alwaysReadyHttpInstances }] : []
      }
      runtime: { name: 'python', version: '3.11' }
    }
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      healthCheckPath: '/api/health'
      appSettings: [
        { name: 'AzureWebJobsStorage__credential', value: 'managedidentity' }
        { name: 'AzureWebJobsStorage__clientId', value: identity.properties.clientId }
        { name: 'AzureWebJobsStorage__blobServiceUri', value: storage.properties.primaryEndpoints.blob }
        { name: 'AzureWebJobsStorage__queueServiceUri', value: storage.properties.primaryEndpoints.queue }
        { name: 'AzureWebJobsStorage__tableServiceUri', value: storage.properties.primaryEndpoints.table }
        { name: 'AZURE_CLIENT_ID', value: identity.properties.clientId } // DefaultAzureCredential picks this identity
        { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: appInsights.properties.ConnectionString }
        { name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING', value: 'ClientId=${identity.properties.clientId};Authorization=AAD' }
        { name: 'PUBLIC_BASE_URL', value: baseUrl }
        { name: 'PLATFORM_NAME', value: platformName }
        { name: 'SUPPORT_EMAIL', value: supportEmail }
        { name: 'DOCS_URL', value: docsUrl }
        { name: 'PLATFORM_TENANT_ID', value: platformTenantId }
        { name: 'VERIFIED_EMAIL_TENANTS', value: verifiedEmailTenants }
        { name: 'PARTNER_AUTH_ISSUER', value: partnerAuthIssuer }
        { name: 'PARTNER_AUTH_AUDIENCE', value: partnerAuthAudience }
        { name: 'PARTNER_AUTH_JWKS_URL', value: partnerAuthJwksUrl }
        { name: 'AUTH_AUTHORITY', value: authAuthority }
        { name: 'AUTH_CLIENT_ID', value: authClientId }
        { name: 'AUTH_CLIENT_SECRET', value: '@Microsoft.KeyVault(SecretUri=${authClientSecretValue.properties.secretUri})' }
        { name: 'SESSION_SECRET', value: '@Microsoft.KeyVault(SecretUri=${sessionSecretValue.properties.secretUri})' }
        { name: 'ACS_ENDPOINT', value: 'https://${communication.properties.hostName}' }
        { name: 'EMAIL_SENDER', value: emailSender }
        { name: 'EMAIL_QUEUE', value: 'invitation-emails' }
        { name: 'EXPIRE_SCHEDULE', value: '0 0 * * * *' }
        { name: 'REMIND_SCHEDULE', value: '0 15 * * * *' }
        { name: 'ATTESTATION_EXPIRE_SCHEDULE', value: '0 45 * * * *' }
        { name: 'WEBHOOKS_QUEUE', value: 'webhook-events' }
        { name: 'DNS_RESOLVER', value: '' } // empty: the platform's own resolver answers the domain verification lookups
      ]
    }
  }
  dependsOn: [endpointDns, dnsLinks, storageRoles, vaultRole]
}

// No publishing with user names and passwords: azd deploys with Entra ID.
resource ftpCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: app
  name: 'ftp'
  properties: { allow: false }
}

resource scmCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: app
  name: 'scm'
  properties: { allow: false }
}

// ---------------------------------------------------------------- role assignments of the app's identity
var storageRoleIds = [roles.storageBlobDataOwner, roles.storageQueueDataContributor, roles.storageTableDataContributor]

resource storageRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for roleId in storageRoleIds: {
  name: guid(storage.id, identity.id, roleId)
  scope: storage
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleId)
  }
}]

resource vaultRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, identity.id, roles.keyVaultSecretsUser)
  scope: vault
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
  }
}

resource telemetryRole 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, identity.id, roles.monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
  }
}

resource emailSenderAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(communication.id, identity.id, 'acs-email-sender')
  scope: communication
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: emailSenderRole.id
  }
}

output functionAppName string = app.name
output functionAppUrl string = appUrl
output publicBaseUrl string = baseUrl
output keyVaultName string = vault.name
output applicationInsightsName string = appInsights.name
output emailSender string = emailSender
output emailCustomDomainVerification object = empty(emailCustomDomain) ? {} : customDomain.properties.verificationRecords
