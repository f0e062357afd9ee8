"""``python -m job_worker``: one job worker process of the stack ``WORKER_STACK`` names, until SIGTERM."""

from __future__ import annotations

import argparse
import logging
import sys

from job_queue.settings import JobSettings
from job_worker import metrics
from job_worker.probe import ProbeServer
from job_worker.settings import WorkerSettings
from job_worker.worker import WorkerState, scoring_settings


def parser() -> argparse.ArgumentParser:
    """The command line: no options; every setting comes from the environment or .env."""
    return argparse.ArgumentParser(
        prog="python -m job_worker",
        description="Take jobs from one stack's Redis Streams queue and score them with the reference's score(): "
        "an asyncio worker for the async stack, a thread-pool worker for the sync one. Serves its health probes "
        "and /metrics on its own port; SIGTERM finishes the jobs in hand and takes no new one.",
        epilog="Settings: WORKER_* (stack, port, concurrency, grace), JOBS_* (the queue's policy), REDIS_URL, and "
        "SCORING_* (models, transport, deadline) environment variables or .env; see .env.example.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )


def main(argv: list[str] | None = None) -> int:
    """Run one worker until it is stopped."""
    parser().parse_args(argv)
    worker = WorkerSettings()
    _log_json(worker.log_level)
    state = WorkerState.polling(worker.poll_s)
    metrics.prepare(worker.stack)
    probe = ProbeServer(worker.host, worker.probe_port(), state).start()
    try:
        # Imported here: the sync worker must never load the async stack's libraries.
        if worker.stack == "async":
            from job_worker.worker_async import AsyncJobWorker as Worker
        else:
            from job_worker.worker_sync import JobWorker as Worker
        Worker(worker, JobSettings(), scoring_settings(worker), state).run()
    finally:
        probe.close()
    return 0


def _log_json(level: str) -> None:
    """JSON lines on stderr, as the services log."""
    from pythonjsonlogger.json import JsonFormatter

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(process)d %(message)s",
                                       rename_fields={"asctime": "time", "levelname": "level", "name": "logger",
                                                      "process": "pid"}))  # fmt: skip
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)


if __name__ == "__main__":
    sys.exit(main())
