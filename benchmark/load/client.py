"""A validating benchmark client for one scoring service (requests, keep-alive, a timeout on every call)."""

from __future__ import annotations

import random

import orjson
import requests

from benchmark.load.expected import expected_body


class WrongAnswer(AssertionError):
    """A scoring answer that is not 200 with the exact expected body."""


class ScoringClient:
    """Posts seeded entity ids to one predict URL and checks every answer."""

    def __init__(self, url: str, timeout_s: float, seed: int, entities: int, headers: dict | None = None) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self.rng = random.Random(seed)
        self.entities = entities
        self.headers = {"Content-Type": "application/json"} | (headers or {})
        self.session = requests.Session()

    def score(self, headers: dict | None = None) -> requests.Response:
        """One validated scoring call; raises WrongAnswer otherwise."""
        entity_id = str(self.rng.randrange(self.entities))
        resp = self.session.post(self.url, data=orjson.dumps({"entity_id": entity_id}),
                                 headers=self.headers | (headers or {}), timeout=self.timeout_s)  # fmt: skip
        if resp.status_code != 200 or resp.content != expected_body(entity_id):
            raise WrongAnswer(f"{self.url} entity {entity_id}: {resp.status_code} {resp.text[:200]}")
        return resp

    def warm_up(self, attempts: int = 20) -> None:
        """Score until one answer is right (a worker's first requests may fail on a busy machine), at most
        ``attempts`` times: connections open, first-call costs paid outside what is measured."""
        for attempt in range(1, attempts + 1):
            try:
                self.score()
                return
            except (WrongAnswer, requests.RequestException):
                if attempt == attempts:
                    raise

    def close(self) -> None:
        """Close its connections."""
        self.session.close()
