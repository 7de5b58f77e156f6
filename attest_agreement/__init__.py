"""attest_agreement feature."""
