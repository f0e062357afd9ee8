"""``ModelClient``: the sync stack's model client (requests, one pooled Session per worker)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import requests
from requests.adapters import HTTPAdapter

from api_scoring.payloads import ModelPrediction, parse_model_answer
from common import jsonio
from common.errors import model_unavailable
from common.timing import Stages
from feature_store.vector import Vector

JSON_HEADERS = {"Content-Type": jsonio.JSON_MEDIA_TYPE}


def open_session(pool_size: int) -> requests.Session:
    """A Session whose pool holds one connection per concurrent caller, for each model host."""
    session = requests.Session()
    # Not reading proxies and .netrc from the environment on every call: faster, and predictable.
    session.trust_env = False
    # The Session is shared by the worker's threads: it only reuses pooled connections
    # (urllib3's pool is thread-safe) and the models set no cookies, so no state is mutated.
    adapter = HTTPAdapter(pool_connections=2, pool_maxsize=pool_size, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


class ModelClient:
    """Calls one model service's predict endpoint."""

    def __init__(
        self, label: str, url: str, session: requests.Session, connect_timeout_s: float, timeout_s: float
    ) -> None:
        self.label = label
        self._url = url
        self._session = session
        # requests' read timeout bounds each socket read, not the whole answer; the model's
        # answer is one small read, so it bounds the call as well.
        self._timeout = (connect_timeout_s, timeout_s)

    def predict(self, vector: Vector, stages: Stages) -> ModelPrediction:
        """The model's prediction for ``vector``, timed as stage ``label``; a 503 ``ApiError`` when it gives none."""
        with stages.stage(self.label):
            return self._predict(vector)

    def _predict(self, vector: Vector) -> ModelPrediction:
        try:
            response = self._session.post(
                self._url, data=jsonio.dumps(vector), headers=JSON_HEADERS, timeout=self._timeout
            )
        except requests.RequestException as exc:
            raise model_unavailable(self.label, type(exc).__name__) from exc
        if response.status_code != 200:
            raise model_unavailable(self.label, f"HTTP {response.status_code}")
        return parse_model_answer(self.label, response.content)


class ModelPair:
    """Both models, called in parallel on a thread pool or one after the other."""

    def __init__(self, model_a: ModelClient, model_b: ModelClient, executor: ThreadPoolExecutor | None) -> None:
        self._model_a = model_a
        self._model_b = model_b
        self._executor = executor

    def predict_both(self, vector: Vector, stages: Stages) -> list[ModelPrediction]:
        """Predictions of model_a and model_b, in that order."""
        if self._executor is None:
            return [self._model_a.predict(vector, stages), self._model_b.predict(vector, stages)]
        # model_a on the pool, model_b on this thread: one thread hop instead of two.
        future_a = self._executor.submit(self._model_a.predict, vector, stages)
        prediction_b = self._model_b.predict(vector, stages)
        return [future_a.result(), prediction_b]
