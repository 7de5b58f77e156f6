// What `azd up` deploys: one resource group holding the invitation service (see resources.bicep).
// Subscription scope, as in the azd function templates, so azd needs nothing but an environment name,
// a subscription and a location.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the azd environment; it makes the resource names unique.')
param environmentName string

@minLength(1)
@description('Region of every resource except the global email resources; it must offer Flex Consumption.')
@metadata({ azd: { type: 'location' } })
param location string

@description('Public base URL of the app, used in every emailed link (never the request Host header). Empty: the function app\'s own https address.')
param publicBaseUrl string = ''

@minLength(1)
@description('Name of the platform, named in emails and pages.')
param platformName string

@minLength(3)
@description('Support address named in emails and pages.')
param supportEmail string

@minLength(8)
@description('Documentation link named in emails and pages.')
param docsUrl string

@description('Entra tenant id of the platform operator (partners hold tenants of their own). Empty: the tenant deployed to.')
param platformTenantId string = ''

@description('Entra tenant ids (comma-separated) whose users\' email claims count as verified without the xms_edov claim.')
param verifiedEmailTenants string = ''

@minLength(1)
@description('Issuer (`iss`) of the partners\' bearer tokens.')
param partnerAuthIssuer string

@minLength(1)
@description('Audience (`aud`) of the partners\' bearer tokens: the application id URI of the invitation API.')
param partnerAuthAudience string

@minLength(8)
@description('JWKS address of the partners\' token issuer.')
param partnerAuthJwksUrl string

@minLength(8)
@description('Authority of customer sign-in (Entra ID, or Entra External ID for customers without a work account).')
param authAuthority string

@minLength(1)
@description('Application (client) id of the customer sign-in app registration.')
param authClientId string

@secure()
@minLength(1)
@description('Client secret of the customer sign-in app registration; kept only in Key Vault.')
param authClientSecret string

@minLength(10)
@maxLength(10)
@description('Expiry of that client secret as Entra shows it (yyyy-MM-dd); recorded on the Key Vault secret.')
param authClientSecretExpiresOn string

@secure()
@minLength(32)
@description('Key that signs the customer session cookie; kept only in Key Vault.')
param sessionSecret string

@description('Custom email domain (e.g. invitations.example.com). Empty: only the Azure managed domain.')
param emailCustomDomain string = ''

@description('True once the custom domain\'s DNS records are verified: it is then linked and used as sender.')
param emailCustomDomainVerified bool = false

@description('True once the code is deployed (the Event Grid subscription needs its function to exist): ACS delivery reports then reach the app.')
param deliveryReports bool = false

@allowed(['Africa', 'Asia Pacific', 'Australia', 'Brazil', 'Canada', 'Europe', 'France', 'Germany', 'India', 'Japan', 'Korea', 'Norway', 'Switzerland', 'UAE', 'UK', 'United States'])
@description('Where Azure Communication Services keeps email data at rest.')
param emailDataLocation string = 'Europe'

@minValue(1)
@maxValue(1000)
@description('Flex Consumption: the most instances the app scales out to.')
param maximumInstanceCount int = 40

@minValue(0)
@maxValue(20)
@description('Flex Consumption: instances kept warm for the HTTP functions (the customer landing page, the partner API).')
param alwaysReadyHttpInstances int = 1

@minValue(1)
@maxValue(1000)
@description('Flex Consumption: HTTP requests one instance serves at once (Python\'s default is 1; the handlers mostly wait on storage).')
param httpPerInstanceConcurrency int = 4

@description('Spread the plan across availability zones (where the region offers it; bills two always-ready instances per scaling group).')
param zoneRedundant bool = false

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = { 'azd-env-name': environmentName }

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module resources 'resources.bicep' = {
  name: 'resources'
  scope: rg
  params: {
    location: location
    tags: tags
    resourceToken: resourceToken
    publicBaseUrl: publicBaseUrl
    platformName: platformName
    supportEmail: supportEmail
    docsUrl: docsUrl
    platformTenantId: empty(platformTenantId) ? tenant().tenantId : platformTenantId
    verifiedEmailTenants: verifiedEmailTenants
    partnerAuthIssuer: partnerAuthIssuer
    partnerAuthAudience: partnerAuthAudience
    partnerAuthJwksUrl: partnerAuthJwksUrl
    authAuthority: authAuthority
    authClientId: authClientId
    authClientSecret: authClientSecret
    authClientSecretExpiresOn: authClientSecretExpiresOn
    sessionSecret: sessionSecret
    emailCustomDomain: emailCustomDomain
    emailCustomDomainVerified: emailCustomDomainVerified
    emailDataLocation: emailDataLocation
    deliveryReports: deliveryReports
    maximumInstanceCount: maximumInstanceCount
    alwaysReadyHttpInstances: alwaysReadyHttpInstances
    httpPerInstanceConcurrency: httpPerInstanceConcurrency
    zoneRedundant: zoneRedundant
  }
}

// azd reads these after provisioning (into .azure/<env>/.env); SERVICE_API_NAME tells `azd deploy` where the code goes.
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output SERVICE_API_NAME string = resources.outputs.functionAppName
output AZURE_FUNCTION_NAME string = resources.outputs.functionAppName
output SERVICE_API_URI string = resources.outputs.functionAppUrl
output PUBLIC_BASE_URL string = resources.outputs.publicBaseUrl
output AUTH_REDIRECT_URI string = '${resources.outputs.publicBaseUrl}/api/auth/callback'
output AZURE_KEY_VAULT_NAME string = resources.outputs.keyVaultName
output APPLICATIONINSIGHTS_NAME string = resources.outputs.applicationInsightsName
output EMAIL_SENDER string = resources.outputs.emailSender
output EMAIL_CUSTOM_DOMAIN_VERIFICATION object = resources.outputs.emailCustomDomainVerification
