"""invite_user feature."""
