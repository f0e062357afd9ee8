"""Prometheus metrics of a job worker, served on its probe port at ``/metrics``.

A worker is one process (not a gunicorn service), so the default registry is used; with it come
``process_cpu_seconds_total`` and ``process_resident_memory_bytes``, which give the CPU per job with
``jobs_done_total``. The queue's gauges are sampled by every worker from the same Redis: aggregate them with
``max``, the counters with ``sum``.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

from job_queue.record import Finished, QueueStats

# From a job scored at once (~50 ms) to one that waited minutes behind a backlog.
WAIT_BUCKETS = (0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)
# Error codes a job can fail or be retried with (a fixed set: the label cannot grow); anything else is ``other``.
KNOWN_ERRORS = frozenset({
    "entity_not_found", "invalid_features", "invalid_input", "invalid_json", "feature_store_unavailable",
    "model_unavailable", "models_unavailable", "deadline_exceeded", "internal_error", "job_attempts_exhausted",
})  # fmt: skip
SKIP_REASONS = frozenset({"expired", "stale", "done", "failed", "cancelled", "exhausted"})

QUEUE_DEPTH = Gauge("jobs_queue_depth", "Accepted jobs not finished (queued or running), as last sampled.", ["stack"])
OLDEST_AGE = Gauge("jobs_oldest_pending_age_seconds", "Age of the oldest entry in the queue, as last sampled.",
                   ["stack"])  # fmt: skip
PENDING = Gauge("jobs_pending", "Entries delivered to a worker and not yet acknowledged, as last sampled.", ["stack"])
IN_PROGRESS = Gauge("jobs_in_progress", "Jobs this worker is running.", ["stack"])
DONE = Counter("jobs_done_total", "Jobs this worker finished with a result.", ["stack"])
FAILED = Counter("jobs_failed_total", "Jobs this worker finished with an error.", ["stack", "error"])
RETRIED = Counter("jobs_retried_total", "Runs that met an outage; the job went back to the queue.", ["stack", "error"])
RECLAIMED = Counter("jobs_reclaimed_total", "Jobs taken over from a worker silent past the visibility timeout.",
                    ["stack"])  # fmt: skip
SKIPPED = Counter("jobs_skipped_total", "Entries not run: cancelled, expired, already ended, out of attempts.",
                  ["stack", "reason"])  # fmt: skip
SUPERSEDED = Counter("jobs_superseded_total", "Runs whose end was not stored: the job had ended meanwhile.",
                     ["stack"])  # fmt: skip
QUEUE_ERRORS = Counter("jobs_queue_errors_total", "Queue commands that failed (the entry stays pending).", ["stack"])
SUBMISSION_TO_RESULT = Histogram(
    "jobs_submission_to_result_seconds", "Time from a job's submission to its stored end (Redis' clock).", ["stack"],
    buckets=WAIT_BUCKETS,
)  # fmt: skip


def sampled(stack: str, stats: QueueStats) -> None:
    """Record a sample of the queue."""
    QUEUE_DEPTH.labels(stack).set(stats.depth)
    OLDEST_AGE.labels(stack).set(stats.oldest_age_s)
    PENDING.labels(stack).set(stats.pending)


def ended(stack: str, kind: str, error: str, finished: Finished) -> None:
    """Record a job's end as this worker stored it (or found another stored first)."""
    if not finished.won:
        SUPERSEDED.labels(stack).inc()
        return
    if kind == "done":
        DONE.labels(stack).inc()
    else:
        FAILED.labels(stack, error_label(error)).inc()
    if finished.waited_s is not None:
        SUBMISSION_TO_RESULT.labels(stack).observe(finished.waited_s)


def retried(stack: str, error: str, requeued: bool) -> None:
    """Record a run that met an outage: the job went back to the queue, or had ended meanwhile (another worker)."""
    if requeued:
        RETRIED.labels(stack, error_label(error)).inc()
    else:
        SUPERSEDED.labels(stack).inc()


def skipped(stack: str, reason: str) -> None:
    """Record an entry that was not run (one out of attempts is a failure: the start stored it as failed)."""
    if reason == "exhausted":
        FAILED.labels(stack, "job_attempts_exhausted").inc()
        return
    SKIPPED.labels(stack, reason if reason in SKIP_REASONS else "other").inc()


def prepare(stack: str) -> None:
    """Export every unlabelled-by-reason series from the start, at zero (a scrape sees them before any job)."""
    for metric in (QUEUE_DEPTH, OLDEST_AGE, PENDING, IN_PROGRESS, DONE, RECLAIMED, SUPERSEDED, QUEUE_ERRORS,
                   SUBMISSION_TO_RESULT):  # fmt: skip
        metric.labels(stack)


def exposition() -> tuple[bytes, str]:
    """The ``/metrics`` body and its content type."""
    return generate_latest(), CONTENT_TYPE_LATEST


def error_label(error: str) -> str:
    """The label of an error code: itself if known, else ``other`` (a label's values must be a fixed set)."""
    return error if error in KNOWN_ERRORS else "other"
