"""The job queue's policy, read alike by the scoring services (which enqueue) and the workers (env prefix
``JOBS_``): its size, how long results are kept, when a silent worker's job is taken over."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings

from service_runtime.core.settings import redis_password_field, redis_url_field, settings_config


class JobSettings(BaseSettings):
    """The job queue of one stack: its Redis, size, expiry, visibility timeout and retries."""

    model_config = settings_config("JOBS_")

    redis_url: str = redis_url_field("JOBS_")
    redis_password: SecretStr | None = redis_password_field("JOBS_")
    max_queue: int = Field(
        default=10_000, ge=1, description="Unfinished jobs (queued or running) the queue holds; past it, 503 at once."
    )
    retry_after_s: int = Field(default=1, ge=1, description="Retry-After of a submission refused on a full queue.")
    visibility_timeout_s: float = Field(
        default=5.0, gt=0,
        description="A job started this long ago and not finished is taken over by another worker (XAUTOCLAIM); "
        "keep it well above SCORING_DEADLINE_S.",
    )  # fmt: skip
    result_ttl_s: float = Field(
        default=3600.0, gt=0, description="How long a finished job (done, failed, cancelled) can be read; then 404."
    )
    max_age_s: float = Field(
        default=86_400.0, gt=0, description="A job not finished this long after its submission is dropped (404)."
    )
    max_attempts: int = Field(
        default=3, ge=1, description="Starts of one job (retries after an outage, takeovers) before it fails."
    )
    redis_timeout_s: float = Field(
        default=0.25,
        gt=0,
        description="Timeout of each queue command and pool wait (at most the deadline's remainder).",
    )
    redis_connect_timeout_s: float = Field(
        default=0.25, gt=0, description="Timeout to set up a new connection to the queue's Redis."
    )

    def result_ttl_ms(self) -> int:
        """``result_ttl_s`` in whole milliseconds (at least 1)."""
        return max(1, round(self.result_ttl_s * 1000))

    def max_age_ms(self) -> int:
        """``max_age_s`` in whole milliseconds (at least 1)."""
        return max(1, round(self.max_age_s * 1000))

    def visibility_timeout_ms(self) -> int:
        """``visibility_timeout_s`` in whole milliseconds (at least 1)."""
        return max(1, round(self.visibility_timeout_s * 1000))
