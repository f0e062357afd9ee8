"""Fault injection for tests: a TCP proxy that adds latency, blackholes, resets or refuses connections."""
