"""The job queue's key schema, job ids and idempotency keys, defined once for every reader and writer.

Schema v1, one namespace per stack (the two stacks never share a queue):

- ``jobs:v1:{stack}:stream``: the Redis Stream that is the queue; each entry is ``job=<job id>``, and holds
  one accepted job that has not finished (queued or running). An entry is deleted when its job ends, so the
  stream's length is the queue's size;
- consumer group ``workers`` on that stream: each entry is delivered to one worker, and stays pending
  (in the group's PEL) until that worker acknowledges it, after the job's end is stored;
- ``jobs:v1:{stack}:job:{job_id}``: the job record, a hash (``job_queue.record``);
- ``jobs:v1:{stack}:idem:{key}``: an idempotency key, ``"<job id> <digest of the body>"``.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from reference.core import ApiError, invalid_input

SCHEMA_VERSION = "v1"
GROUP = "workers"
IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_KEY_MAX_LENGTH = 128

# 128 random bits in hex: unguessable, since a job id is all it takes to read a result.
_JOB_ID = re.compile(r"[0-9a-f]{32}")
JOB_ID_PATTERN = f"^{_JOB_ID.pattern}$"
# The characters of a UUID, a ULID or a timestamped key; none that could reach another key namespace.
_IDEMPOTENCY_KEY = re.compile(rf"[A-Za-z0-9._:-]{{1,{IDEMPOTENCY_KEY_MAX_LENGTH}}}")
IDEMPOTENCY_KEY_PATTERN = f"^{_IDEMPOTENCY_KEY.pattern}$"


def new_job_id() -> str:
    """A fresh job id."""
    return secrets.token_hex(16)


def is_job_id(value: str) -> bool:
    """True if ``value`` is a well-formed job id (one that could exist)."""
    return _JOB_ID.fullmatch(value) is not None


def validate_idempotency_key(value: str | None) -> str | None:
    """The idempotency key of a submission (None when absent); a 422 if it is malformed."""
    if value is None:
        return None
    if not _IDEMPOTENCY_KEY.fullmatch(value):
        raise _bad_key()
    return value


def _bad_key() -> ApiError:
    return invalid_input(
        f"{IDEMPOTENCY_HEADER} must be 1-{IDEMPOTENCY_KEY_MAX_LENGTH} characters of A-Z a-z 0-9 . _ : -",
        field=IDEMPOTENCY_HEADER,
    )


@dataclass(frozen=True)
class JobKeys:
    """The Redis keys of one stack's queue."""

    stack: str

    @property
    def prefix(self) -> str:
        """What every key of this stack's queue starts with."""
        return f"jobs:{SCHEMA_VERSION}:{self.stack}:"

    @property
    def stream(self) -> str:
        """The stream that is the queue."""
        return self.prefix + "stream"

    @property
    def record_prefix(self) -> str:
        """What every job record's key starts with (the Lua scripts build a record key from a job id)."""
        return self.prefix + "job:"

    def record(self, job_id: str) -> str:
        """The key of a job's record (the id must already be validated)."""
        return self.record_prefix + job_id

    def idempotency(self, key: str) -> str:
        """The key that maps an idempotency key to its job (the key must already be validated)."""
        return self.prefix + "idem:" + key
