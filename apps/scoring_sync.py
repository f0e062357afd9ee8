"""The sync scoring service as make up runs it: the reference's, with job mode, and the lab's transports to the
models (the Open Inference Protocol over REST or gRPC) and sequential fan-out."""

from __future__ import annotations

import atexit
from concurrent.futures import Executor, Future

from flask_openapi3 import OpenAPI

from apps.profiling_sync import add_profiling
from apps.settings import FanoutSettings
from inference_protocol.clients_sync import open_transport
from inference_protocol.settings import TransportSettings
from job_queue.client_sync import JobClient
from job_queue.routes_sync import jobs_blueprint
from job_queue.settings import JobSettings
from reference import scoring_sync
from reference.api import predict_path
from reference.service import Service
from reference.settings import ScoringSettings
from reference.web_sync import service_app

STACK = "sync"


class InlineExecutor(Executor):
    """Runs what it is given at once, on the calling thread: the sequential fan-out."""

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            future.set_exception(exc)
        return future


def create_app() -> OpenAPI:
    """``apps.scoring_sync:create_app()``; gunicorn calls it in each worker, after the fork."""
    settings = ScoringSettings()
    upstreams = ["redis", *settings.models(STACK)]
    service = Service.of(settings, STACK, [predict_path(STACK)], settings.deadline_s, upstreams)
    clients = scoring_sync.Clients(settings)
    clients.models = open_transport(settings, TransportSettings(), clients.models)
    if FanoutSettings().fanout == "sequential":
        clients.threads.shutdown()
        clients.threads = InlineExecutor()  # the models one after the other, on the request's thread
    jobs = JobClient(JobSettings(), STACK, settings.pool(STACK))
    atexit.register(jobs.close)
    atexit.register(clients.close)
    app = service_app(service, f"scoring ({STACK})", scoring_sync.VERSION, settings.max_body_bytes, clients.readiness)
    app.extensions["scoring"], app.extensions["jobs"] = clients, jobs
    app.register_api(scoring_sync.bp)
    app.register_api(jobs_blueprint(STACK))
    add_profiling(app, "scoring", STACK)
    return app
