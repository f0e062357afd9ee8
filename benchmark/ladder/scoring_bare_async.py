"""The bare rung's async scoring service: the reference's router, lifespan and clients, without its middleware."""

from __future__ import annotations

from fastapi import FastAPI

from benchmark.ladder.bare_async import bare_app
from reference.scoring_async import STACK, VERSION, lifespan, readiness, router
from reference.settings import ScoringSettings


def create_app() -> FastAPI:
    """The app gunicorn's uvicorn workers serve: ``benchmark.ladder.scoring_bare_async:create_app()``."""
    settings = ScoringSettings()
    app = bare_app(router, f"scoring ({STACK})", VERSION, settings.deadline_s, lifespan, readiness)
    app.state.settings = settings  # what the reference's lifespan opens its clients with
    return app
