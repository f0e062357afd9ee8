"""The configuration every settings class shares: environment variables with a prefix, then ``.env``."""

from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def settings_config(prefix: str) -> SettingsConfigDict:
    """Settings read from ``{prefix}NAME`` variables, then from ``.env``; unknown variables are ignored."""
    return SettingsConfigDict(
        env_prefix=prefix,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        env_ignore_empty=True,  # NAME= (as in .env.example) means "use the default"
        validate_by_name=True,  # SeedSettings(redis_url=...) works beside the REDIS_URL alias
    )


def redis_password_field(prefix: str):
    """A ``redis_password`` setting (Redis' ``requirepass``) that honours ``{prefix}REDIS_PASSWORD`` first, then the
    conventional ``REDIS_PASSWORD``; never printed (``SecretStr``)."""
    return Field(
        default=None,
        validation_alias=AliasChoices(f"{prefix}REDIS_PASSWORD", "REDIS_PASSWORD"),
        description="Password of that Redis (AUTH); unset: no authentication. In Kubernetes it comes from the "
        "redis-auth Secret, in compose from REDIS_PASSWORD.",
    )


def redis_url_field(prefix: str):
    """A ``redis_url`` setting that honours ``{prefix}REDIS_URL`` first, then the conventional ``REDIS_URL``."""
    return Field(
        default=DEFAULT_REDIS_URL,
        validation_alias=AliasChoices(f"{prefix}REDIS_URL", "REDIS_URL"),
        description="Redis holding the feature store.",
    )
