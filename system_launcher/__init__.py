"""Launching and supervising the system's processes: the registry of how each starts, ``make up``, helpers.

- ``registry``: the one source of truth for every process's command and environment;
- ``settings``: where they listen (``STACK_*``); ``supervisor``: start, watch, stop; ``up``: ``make up`` (and
  ``make_parent``: a signal that reached make alone);
- ``redis_server``, ``procfs``, ``net``, ``polling``: finding Redis, reading /proc, ports, bounded waits.
"""
