"""Webhooks and the events feed: partner subscriptions, signed deliveries, and the feed of what happened."""
