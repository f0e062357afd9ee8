"""Other ways to serve the same apps: Granian (ASGI and WSGI), gunicorn's gevent, sync and meinheld workers.

``server_argv(variant, factory, python)`` is the command that serves an app factory with each of them, and
``server_env(variant)`` what the variant sets in that command's environment.
"""

from server_variants.commands import VARIANTS, MeinheldMissing, interface_of, server_argv, server_env, worker_class

__all__ = ["VARIANTS", "MeinheldMissing", "interface_of", "server_argv", "server_env", "worker_class"]
