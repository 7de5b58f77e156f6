"""The app's shared core: settings, clock, storage, email path and the error format."""
