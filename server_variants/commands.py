"""The command that serves an app factory with each variant: gunicorn with the reference's configuration and a worker
class, or Granian."""

from __future__ import annotations

import importlib.util
from typing import Literal

Interface = Literal["asgi", "wsgi"]
GUNICORN_CONFIG = "python:reference.gunicorn_conf"
GRANIAN_SERVE = "server_variants.granian_serve"
# The interfaces each variant serves: the async apps are ASGI, the sync ones WSGI; Granian serves both.
VARIANTS: dict[str, frozenset[Interface]] = {
    "uvicorn": frozenset({"asgi"}),
    "gthread": frozenset({"wsgi"}),
    "gevent": frozenset({"wsgi"}),
    "sync": frozenset({"wsgi"}),
    "meinheld": frozenset({"wsgi"}),
    "granian": frozenset({"asgi", "wsgi"}),
}
# gunicorn's worker class (``-k``) of each gunicorn variant.
WORKER_CLASSES = {
    "uvicorn": "reference.web_async.UvicornWorker",
    "gthread": "gthread",
    "gevent": "server_variants.gevent_worker.GeventWorker",
    "sync": "sync",
    "meinheld": "meinheld.gmeinheld.MeinheldWorker",
}
# What a variant needs in the environment of the services it serves: gunicorn runs a ``sync`` worker with more than
# one thread as gthread, and a worker that serves one request at a time admits one (meinheld's does, unpatched).
# gevent keeps SERVER_THREADS: its green threads, the requests a worker serves at once.
ENVIRONMENTS: dict[str, dict[str, str]] = {"sync": {"SERVER_THREADS": "1"}, "meinheld": {"SERVER_THREADS": "1"}}


class MeinheldMissing(RuntimeError):
    """The meinheld variant was chosen, and meinheld is not installed (it is opt-in)."""


def interface_of(factory: str) -> Interface:
    """``asgi`` or ``wsgi`` for ``module:function``, by the project's naming: ``x_async`` modules hold the async
    (ASGI) apps, ``x_sync`` ones the sync (WSGI) apps."""
    module = factory.partition(":")[0]
    if module.endswith("_async"):
        return "asgi"
    if module.endswith("_sync"):
        return "wsgi"
    raise ValueError(f"{factory}: cannot tell an ASGI app from a WSGI one (its module should end in _async or _sync)")


def worker_class(variant: str) -> str:
    """gunicorn's ``-k`` for a gunicorn variant; fails at once, saying what to do, when meinheld is not installed."""
    if variant not in WORKER_CLASSES:
        raise ValueError(f"{variant!r} is not a gunicorn variant: choose one of {', '.join(WORKER_CLASSES)}")
    if variant == "meinheld" and importlib.util.find_spec("meinheld") is None:
        raise MeinheldMissing("the meinheld variant needs meinheld, which is opt-in: run `make meinheld` first")
    return WORKER_CLASSES[variant]


def server_env(variant: str) -> dict[str, str]:
    """The variables ``variant`` sets for every service it serves, over the service's own."""
    return dict(ENVIRONMENTS.get(variant, {}))


def server_argv(variant: str, factory: str, python: str = "python") -> list[str]:
    """The command that serves ``factory`` (``module:function``, called once in each worker) with ``variant``."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown server variant {variant!r}: choose one of {', '.join(VARIANTS)}")
    interface = interface_of(factory)
    if interface not in VARIANTS[variant]:
        raise ValueError(f"{variant} does not serve {factory}, an {interface.upper()} app")
    if variant == "granian":
        return [python, "-m", GRANIAN_SERVE, "--interface", interface, factory]
    return [python, "-m", "gunicorn", "-c", GUNICORN_CONFIG, "-k", worker_class(variant), f"{factory}()"]
