"""Fault injection: a TCP proxy that adds latency, blackholes, resets or refuses connections (``proxy``); hostile
clients (``clients``) and a stand-in model that answers badly (``misbehaving_model``); a stack wired for faults
(``harness``), a steady validating load (``load``) and ``make soak`` (``soak``)."""
