"""The bare rung's sync scoring service: the reference's blueprint and clients, without its service hooks."""

from __future__ import annotations

import atexit

from flask_openapi3 import OpenAPI

from benchmark.ladder.bare_sync import bare_app
from reference.scoring_sync import STACK, VERSION, Clients, bp
from reference.settings import ScoringSettings


def create_app() -> OpenAPI:
    """The app gunicorn's threaded workers serve: ``benchmark.ladder.scoring_bare_sync:create_app()``."""
    settings = ScoringSettings()
    clients = Clients(settings)
    atexit.register(clients.close)  # a gunicorn worker leaves through sys.exit
    app = bare_app(f"scoring ({STACK})", VERSION, settings.deadline_s, clients.readiness)
    app.extensions["scoring"] = clients
    app.register_api(bp)
    return app
