"""The local stack: Azurite, MailDev, a TLS OpenID Connect provider and a host for this app's functions."""
