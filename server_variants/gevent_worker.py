"""gunicorn's gevent worker, with gRPC made cooperative: ``-k server_variants.gevent_worker.GeventWorker``.

gunicorn's gevent worker monkey-patches the standard library first thing in each worker, after the fork and before it
loads the app, so Redis, the model calls and the fan-out's threads run on green threads. gRPC's core is not patched
by that: a model service's gRPC server (or a gRPC client) would block the whole worker in its completion queue.
gRPC's gevent integration must run after the patch and before any gRPC object exists, a point no gunicorn hook
reaches (``post_fork`` runs before the patch, ``post_worker_init`` after the app is loaded).
"""

from __future__ import annotations

from gunicorn.workers.ggevent import GeventWorker as GunicornGeventWorker


class GeventWorker(GunicornGeventWorker):
    """gunicorn's gevent worker that also patches gRPC once the standard library is patched."""

    def patch(self) -> None:
        """gunicorn's monkey-patching, then gRPC's gevent integration."""
        super().patch()
        import grpc.experimental.gevent  # in the worker only: the master, which forks, holds no gRPC state

        grpc.experimental.gevent.init_gevent()
