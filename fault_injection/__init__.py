"""Fault injection: a TCP proxy that adds latency, blackholes, resets or refuses connections; a stack wired
for faults (``harness``), a steady validating load (``load``) and ``make soak`` (``soak``)."""
