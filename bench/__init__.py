"""Benchmarks: request counts and speed measured on real local servers, reported, never asserted in tests."""
