"""Every change to the queue, as a Lua script run atomically by Redis; and the arguments and replies of each.

Why scripts, not MULTI: each change reads before it writes (is the queue full? is this key already used? is
the job still queued?), and a script is the one way to read and write in a single atomic step without
optimistic retries (WATCH/MULTI would retry under contention). Redis runs a script alone, and replicates and
logs it to the append-only file as its effects (the default since Redis 5), so a restart replays exactly what
the script did. Times are Redis' own clock (``TIME``), so the submission-to-result time is measured on one
clock whichever hosts the service and the workers run on.

The stream is bounded by the admission check (``XLEN`` against ``JOBS_MAX_QUEUE`` in ``SUBMIT``) and by deleting
every entry when its job ends, not by ``XADD MAXLEN``: trimming would drop the oldest entries, which are
accepted jobs not yet run. Records are bounded by the same count while unfinished (one per entry), and expire
``JOBS_RESULT_TTL_S`` after their end, or ``JOBS_MAX_AGE_S`` after their submission. The record keys the
scripts build from a job id (``record_prefix``) are not declared in ``KEYS``: fine on one Redis, not on a
Redis Cluster.
"""

from __future__ import annotations

from collections.abc import Sequence

from job_queue.api import JobAccepted, error_json
from job_queue.errors import QueueFull, attempts_exhausted, idempotency_key_reused, job_not_cancellable, job_not_found
from job_queue.record import Finished, QueueStats, Skipped, Started, Submission
from job_queue.schema import GROUP, JobKeys
from job_queue.settings import JobSettings

Reply = list
Call = tuple[list[str], list[str | int | bytes]]

_PREAMBLE = """
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function release(stream, group, entry)
  redis.pcall('XACK', stream, group, entry)
  redis.call('XDEL', stream, entry)
end
local function expire(record, idem, ttl_ms)
  redis.call('PEXPIRE', record, ttl_ms)
  if idem then redis.call('PEXPIRE', idem, ttl_ms) end
end
"""

# KEYS: stream, record[, idempotency]. ARGV: job id, body, digest, max queue, max age ms, record prefix, group.
SUBMIT = (
    _PREAMBLE
    + """
if KEYS[3] then
  local held = redis.call('GET', KEYS[3])
  if held then
    local job, digest = string.match(held, '^(%S+) (%S+)$')
    local status = job and redis.call('HGET', ARGV[6] .. job, 'status')
    if status then
      if digest == ARGV[3] then return {'existing', job, status} end
      return {'conflict', job}
    end
  end
end
local depth = redis.call('XLEN', KEYS[1])
if depth >= tonumber(ARGV[4]) then return {'full', depth} end
redis.pcall('XGROUP', 'CREATE', KEYS[1], ARGV[7], '0', 'MKSTREAM')
local entry = redis.call('XADD', KEYS[1], '*', 'job', ARGV[1])
redis.call('HSET', KEYS[2], 'status', 'queued', 'body', ARGV[2], 'digest', ARGV[3], 'submitted_ms', now_ms(),
           'entry', entry, 'attempts', 0)
if KEYS[3] then
  redis.call('HSET', KEYS[2], 'idem', KEYS[3])
  redis.call('SET', KEYS[3], ARGV[1] .. ' ' .. ARGV[3], 'PX', ARGV[5])
end
redis.call('PEXPIRE', KEYS[2], ARGV[5])
return {'queued', ARGV[1]}
"""
)

# KEYS: stream, record. ARGV: group, result ttl ms.
CANCEL = (
    _PREAMBLE
    + """
local job = redis.call('HMGET', KEYS[2], 'status', 'entry', 'idem')
if not job[1] then return 'missing' end
if job[1] ~= 'queued' then return job[1] end
release(KEYS[1], ARGV[1], job[2])
redis.call('HSET', KEYS[2], 'status', 'cancelled', 'finished_ms', now_ms())
expire(KEYS[2], job[3], ARGV[2])
return 'cancelled'
"""
)

# KEYS: stream, record. ARGV: group, entry, consumer, max attempts, result ttl ms, the error of an exhausted job.
START = (
    _PREAMBLE
    + """
local job = redis.call('HMGET', KEYS[2], 'status', 'entry', 'attempts', 'body', 'idem')
local status = job[1]
if not status then status = 'expired'
elseif job[2] ~= ARGV[2] then status = 'stale'
elseif status == 'queued' or status == 'running' then
  local attempts = tonumber(job[3]) + 1
  if attempts <= tonumber(ARGV[4]) then
    redis.call('HSET', KEYS[2], 'status', 'running', 'attempts', attempts, 'started_ms', now_ms(), 'worker', ARGV[3])
    return {'start', job[4], attempts}
  end
  redis.call('HSET', KEYS[2], 'status', 'failed', 'error', ARGV[6], 'finished_ms', now_ms())
  expire(KEYS[2], job[5], ARGV[5])
  status = 'exhausted'
end
release(KEYS[1], ARGV[1], ARGV[2])
return {status}
"""
)

# KEYS: stream, record. ARGV: group, entry, final status (done|failed), field (result|error), payload, result ttl ms.
FINISH = (
    _PREAMBLE
    + """
local job = redis.call('HMGET', KEYS[2], 'status', 'submitted_ms', 'idem')
local won, waited = 0, -1
if job[1] == 'queued' or job[1] == 'running' then
  local now = now_ms()
  redis.call('HSET', KEYS[2], 'status', ARGV[3], ARGV[4], ARGV[5], 'finished_ms', now)
  expire(KEYS[2], job[3], ARGV[6])
  won, waited = 1, now - tonumber(job[2])
end
release(KEYS[1], ARGV[1], ARGV[2])
return {won, waited}
"""
)

# KEYS: stream, record. ARGV: group, entry, job id, why (the error shape of the failed attempt).
REQUEUE = (
    _PREAMBLE
    + """
local job = redis.call('HMGET', KEYS[2], 'status', 'entry')
local requeued = 0
if job[1] == 'running' and job[2] == ARGV[2] then
  local entry = redis.call('XADD', KEYS[1], '*', 'job', ARGV[3])
  redis.call('HSET', KEYS[2], 'status', 'queued', 'entry', entry, 'last_error', ARGV[4])
  requeued = 1
end
release(KEYS[1], ARGV[1], ARGV[2])
return requeued
"""
)

# KEYS: stream. ARGV: group. Read-only.
STATS = (
    _PREAMBLE
    + """
local depth = redis.call('XLEN', KEYS[1])
local oldest = 0
local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
if first[1] then
  oldest = math.max(0, now_ms() - tonumber(string.match(first[1][1], '^(%d+)-')))
end
local pending = 0
local summary = redis.pcall('XPENDING', KEYS[1], ARGV[1])
if type(summary) == 'table' and summary['err'] == nil then pending = summary[1] end
return {depth, oldest, pending}
"""
)


def submit_call(keys: JobKeys, job_id: str, submission: Submission, settings: JobSettings) -> Call:
    """``SUBMIT``'s keys and arguments."""
    names = [keys.stream, keys.record(job_id)]
    if submission.idempotency_key is not None:
        names.append(keys.idempotency(submission.idempotency_key))
    return names, [job_id, submission.body, submission.digest, settings.max_queue, settings.max_age_ms(),
                   keys.record_prefix, GROUP]  # fmt: skip


def submitted(reply: Reply, settings: JobSettings) -> JobAccepted:
    """The answer to a submission: its job (a reused key's, with its status), or the 503 of a full queue, or the
    409 of a key reused with another body."""
    outcome, *rest = (_text(part) for part in reply)
    if outcome == "queued":
        return JobAccepted(job_id=rest[0], status="queued")
    if outcome == "existing":
        return JobAccepted(job_id=rest[0], status=rest[1])  # type: ignore[arg-type]
    if outcome == "conflict":
        raise idempotency_key_reused(rest[0])
    raise QueueFull(settings.max_queue, settings.retry_after_s)


def cancel_call(keys: JobKeys, job_id: str, settings: JobSettings) -> Call:
    """``CANCEL``'s keys and arguments."""
    return [keys.stream, keys.record(job_id)], [GROUP, settings.result_ttl_ms()]


def start_call(keys: JobKeys, entry: str, job_id: str, consumer: str, settings: JobSettings) -> Call:
    """``START``'s keys and arguments."""
    exhausted = error_json(attempts_exhausted(settings.max_attempts))
    return [keys.stream, keys.record(job_id)], [GROUP, entry, consumer, settings.max_attempts,
                                                settings.result_ttl_ms(), exhausted]  # fmt: skip


def started(reply: Reply) -> Started | Skipped:
    """A job to run, or why the entry was skipped."""
    if _text(reply[0]) == "start":
        return Started(body=bytes(reply[1]), attempts=int(reply[2]))
    return Skipped(_text(reply[0]))


def finish_call(keys: JobKeys, entry: str, job_id: str, result: bytes | None, error: bytes | None,
                settings: JobSettings) -> Call:  # fmt: skip
    """``FINISH``'s keys and arguments: done with ``result``, or failed with ``error``."""
    status, field, payload = ("done", "result", result) if error is None else ("failed", "error", error)
    return [keys.stream, keys.record(job_id)], [GROUP, entry, status, field, payload, settings.result_ttl_ms()]


def finished(reply: Reply) -> Finished:
    """Whether this end was the one stored, and the time from submission to it."""
    won, waited_ms = int(reply[0]), int(reply[1])
    return Finished(won=bool(won), waited_s=waited_ms / 1000 if won else None)


def requeue_call(keys: JobKeys, entry: str, job_id: str, why: bytes) -> Call:
    """``REQUEUE``'s keys and arguments."""
    return [keys.stream, keys.record(job_id)], [GROUP, entry, job_id, why]


def stats_call(keys: JobKeys) -> Call:
    """``STATS``'s keys and arguments."""
    return [keys.stream], [GROUP]


def stats(reply: Reply) -> QueueStats:
    """The queue's depth, oldest entry's age and pending entries."""
    depth, oldest_ms, pending = (int(part) for part in reply)
    return QueueStats(depth=depth, oldest_age_s=oldest_ms / 1000, pending=pending)


def entries(batch: Sequence) -> list[tuple[str, str]]:
    """``(entry id, job id)`` of stream entries as redis-py parses them (``(id, {b"job": ...})``), skipping any
    that name no job (an entry deleted while pending comes back from a claim as ``None``)."""
    found = []
    for entry_id, fields in batch:
        job = (fields or {}).get(b"job")
        if entry_id is not None and job is not None:
            found.append((_text(entry_id), _text(job)))
    return found


def _text(value: bytes | str | int) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def cancelled(job_id: str, reply: bytes | str) -> str:
    """The job's status after a cancellation: ``cancelled``; a 404 for an unknown job, a 409 for one that started."""
    status = _text(reply)
    if status == "missing":
        raise job_not_found(job_id)
    if status != "cancelled":
        raise job_not_cancellable(job_id, status)
    return status


def prunable(consumers: Sequence[dict], me: str, idle_ms: int) -> list[str]:
    """Consumers of the group to delete: idle for ``idle_ms`` and holding no pending entry (so deleting them loses
    nothing). Every worker process is a consumer named after its pid: without this, restarts would add consumers
    forever."""
    names = []
    for consumer in consumers:
        name = _text(consumer["name"])
        if name != me and int(consumer["pending"]) == 0 and int(consumer["idle"]) >= idle_ms:
            names.append(name)
    return names


def next_cursor(value: bytes | str) -> str:
    """Where the next XAUTOCLAIM scan starts (``0-0`` once a scan has gone through every pending entry)."""
    return _text(value)
