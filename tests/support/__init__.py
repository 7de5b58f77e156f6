"""Test helpers: real local servers started by the tests themselves, and request builders."""
