"""Tiny random models shared by tests and benchmarks (offline, seconds to build)."""
