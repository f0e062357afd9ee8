"""The job queue's policy, read alike by the scoring services (which enqueue) and the workers (env prefix
``JOBS_``): its size, how long results are kept, when a silent worker's job is taken over."""

from __future__ import annotations

from pydantic import Field

from reference.settings import RedisSettings, settings_config


class JobSettings(RedisSettings):
    """The job queue of one stack: its size, expiry, visibility timeout, retries and Redis timeouts (its Redis is
    ``REDIS_URL``, the feature store's)."""

    model_config = settings_config("JOBS_")

    max_queue: int = Field(
        10_000, ge=1, description="Unfinished jobs (queued or running) the queue holds; past it, 503 at once."
    )
    retry_after_s: int = Field(1, ge=1, description="Retry-After of a submission refused on a full queue.")
    visibility_timeout_s: float = Field(
        5.0, gt=0,
        description="A job started this long ago and not finished is taken over by another worker (XAUTOCLAIM); "
        "keep it well above SCORING_DEADLINE_S.",
    )  # fmt: skip
    result_ttl_s: float = Field(
        3600.0, gt=0, description="How long a finished job (done, failed, cancelled) can be read; then 404."
    )
    max_age_s: float = Field(
        86_400.0, gt=0, description="A job not finished this long after its submission is dropped."
    )
    max_attempts: int = Field(
        3, ge=1, description="Starts of one job (retries after an outage or a degraded answer, takeovers)."
    )
    redis_timeout_s: float = Field(
        0.25, gt=0, description="Timeout of each queue command and pool wait (at most the deadline's remainder)."
    )
    redis_connect_timeout_s: float = Field(0.25, gt=0, description="Timeout of a new connection to the queue's Redis.")

    def result_ttl_ms(self) -> int:
        """``result_ttl_s`` in whole milliseconds (at least 1)."""
        return max(1, round(self.result_ttl_s * 1000))

    def max_age_ms(self) -> int:
        """``max_age_s`` in whole milliseconds (at least 1)."""
        return max(1, round(self.max_age_s * 1000))

    def visibility_timeout_ms(self) -> int:
        """``visibility_timeout_s`` in whole milliseconds (at least 1)."""
        return max(1, round(self.visibility_timeout_s * 1000))
