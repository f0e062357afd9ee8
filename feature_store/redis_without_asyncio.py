"""redis-py for the sync stack, without loading its asyncio client.

redis-py's package ``__init__`` imports ``redis.asyncio`` on purpose (redis/redis-py#2759, so that
``import redis`` gives ``redis.asyncio.Redis``), which would load the whole async client into every
sync worker. Registering ``redis.asyncio`` first as a module whose code runs on first use keeps that
name importable and defers the async client until something touches it, which the sync stack never
does. (redis-py 8's sync command mixins still import the small ``redis.asyncio.observability``
helpers, which do not load the async client.)
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
from types import ModuleType

DEFERRED = "redis.asyncio"


def defer_package(name: str) -> None:
    """Make ``name`` (a subpackage) importable without running its ``__init__`` until an attribute is missing."""
    if name in sys.modules:
        return  # already imported: nothing left to defer
    parent, _, _ = name.rpartition(".")
    parent_spec = importlib.util.find_spec(parent)  # a top-level package is found without being imported
    spec = importlib.machinery.PathFinder.find_spec(name, parent_spec.submodule_search_locations)
    module = importlib.util.module_from_spec(spec)  # __spec__ and __path__ set: submodules import as usual

    def load(attribute: str) -> object:
        # PEP 562: called only for names the module lacks, so the first real use loads it, once.
        module.__dict__.pop("__getattr__", None)
        spec.loader.exec_module(module)
        return module.__dict__[attribute] if attribute in module.__dict__ else _missing(name, attribute)

    module.__getattr__ = load
    sys.modules[name] = module


def _missing(module: str, attribute: str) -> object:
    raise AttributeError(f"module {module!r} has no attribute {attribute!r}")


defer_package(DEFERRED)

import redis  # noqa: E402  (after the deferral, which is the point of this module)
import redis.backoff  # noqa: E402
import redis.retry  # noqa: E402

__all__ = ["redis"]


def async_client_loaded() -> bool:
    """True once redis-py's async client has been loaded in this process."""
    return isinstance(sys.modules.get(DEFERRED), ModuleType) and "redis.asyncio.client" in sys.modules
