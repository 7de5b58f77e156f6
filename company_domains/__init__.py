"""Verified domains: a company links its organisation\x27s domain, proves it, and people at it join."""
