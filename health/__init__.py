"""Health of the app: is storage reachable, which version runs."""
