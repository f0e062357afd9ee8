"""The sync scoring service: Flask, redis-py and urllib3; the models are called at once on a pool of threads."""

from __future__ import annotations

import atexit
import logging
from concurrent.futures import ThreadPoolExecutor

from flask import Response, current_app
from flask_openapi3 import APIBlueprint, OpenAPI

from reference.api import SCORE_ERRORS, Score, ScoreRequest, combine, predict_path
from reference.clients_sync import FeatureReader, ModelClient, fan_out, model_clients, open_pools
from reference.service import RequestContext, Service
from reference.settings import ScoringSettings
from reference.web_sync import documented, get_context, service_app

STACK = "sync"
VERSION = "1.0.0"
log = logging.getLogger(__name__)
bp = APIBlueprint("scoring", __name__)


@bp.post(predict_path(STACK), responses={200: Score, **documented(SCORE_ERRORS)})
def predict(body: ScoreRequest) -> Response:
    """Score an entity from its stored features (or a vector given whole) with every model, and combine them."""
    answer = score(body, current_app.extensions["scoring"], get_context())
    return Response(answer.model_dump_json(), mimetype="application/json")


def score(body: ScoreRequest, clients: Clients, ctx: RequestContext) -> Score:
    """The entity's stored features (or the vector given), every model at once, and their combination."""
    vector = tuple(body.features) if body.features else clients.features.get(body.entity_id, ctx)
    outcomes = fan_out(clients.models, vector, ctx, clients.threads)
    return combine(body.entity_id, [(m.name, o) for m, o in zip(clients.models, outcomes, strict=True)])


class Clients:
    """This worker's clients, built after the fork (gunicorn calls the app factory in each worker)."""

    def __init__(self, settings: ScoringSettings) -> None:
        self.features = FeatureReader(settings)
        self.pools = open_pools(settings)
        self.models: list[ModelClient] = model_clients(settings, self.pools)
        self.threads = ThreadPoolExecutor(settings.in_flight_limit(STACK), thread_name_prefix="fan-out")
        log.info("worker clients opened")

    def readiness(self) -> dict[str, str]:
        """The state of Redis and of every model."""
        return {"redis": self.features.check()} | {model.name: model.check() for model in self.models}

    def close(self) -> None:
        """Stop the fan-out's threads and close every connection."""
        self.threads.shutdown(wait=True)
        self.pools.clear()
        self.features.close()
        log.info("worker clients closed")


def create_app(settings: ScoringSettings | None = None) -> OpenAPI:
    """The app gunicorn's threaded workers serve: ``reference.scoring_sync:create_app()``."""
    settings = settings or ScoringSettings()
    upstreams = ["redis", *settings.models(STACK)]
    service = Service.of(settings, STACK, [predict_path(STACK)], settings.deadline_s, upstreams)
    clients = Clients(settings)
    atexit.register(clients.close)  # a gunicorn worker leaves through sys.exit
    app = service_app(service, f"scoring ({STACK})", VERSION, settings.max_body_bytes, clients.readiness)
    app.extensions["scoring"] = clients
    app.register_api(bp)
    return app
