"""accept_invite feature."""
