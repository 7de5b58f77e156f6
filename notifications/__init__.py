"""Notifications: every email the app sends (templates, rendering, the sender, the email queue)."""
