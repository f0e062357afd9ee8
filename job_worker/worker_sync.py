"""``JobWorker``: the sync stack's job worker, many jobs at once on a pool of threads."""

from __future__ import annotations

import logging
import signal
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

import redis
from pydantic import ValidationError

from inference_protocol.clients_sync import open_transport
from inference_protocol.settings import TransportSettings
from job_queue.consumer_sync import JobConsumer
from job_queue.record import Skipped, Started
from job_queue.settings import JobSettings
from job_worker import metrics
from job_worker.settings import WorkerSettings
from job_worker.worker import QUEUE_RETRY_S, Ending, Pacing, WorkerState, consumer_name, job_context
from reference.api import ScoreRequest, request_error
from reference.core import ApiError
from reference.scoring_sync import Clients, score
from reference.settings import ScoringSettings

log = logging.getLogger("job_worker")


class JobWorker:
    """Takes jobs from the sync stack's queue and scores them with the reference's ``score()``, the predict route's
    own code, over the scoring service's clients and transport, up to ``WORKER_CONCURRENCY`` at once (one thread
    each); on SIGTERM takes no new job and finishes those in hand within ``WORKER_GRACE_S``."""

    def __init__(self, worker: WorkerSettings, jobs: JobSettings, scoring: ScoringSettings, state: WorkerState) -> None:
        self.worker, self.jobs, self.scoring, self.state = worker, jobs, scoring, state
        self.stack = worker.stack
        self._in_hand: set[Future] = set()

    def run(self) -> None:
        """Run until stopped (SIGTERM or SIGINT)."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda signum, frame: self.state.request_stop())
        clients = open_clients(self.scoring)
        # One connection per job in hand, one for the blocking read, one for the periodic work.
        consumer = JobConsumer(self.jobs, self.stack, consumer_name(self.worker), self.worker.poll_s,
                               self.worker.concurrency + 2)  # fmt: skip
        pool = ThreadPoolExecutor(max_workers=self.worker.concurrency, thread_name_prefix="job")
        log.info("started", extra={"consumer": consumer.name, "concurrency": self.worker.concurrency})
        try:
            self._loop(clients, consumer, pool)
            self._drain()
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
            consumer.close()
            clients.close()
        log.info("stopped", extra={"consumer": consumer.name})

    def _loop(self, clients: Clients, consumer: JobConsumer, pool: ThreadPoolExecutor) -> None:
        periodic = Pacing(self.worker.reclaim_interval_s)
        pruning = Pacing(self.worker.consumer_idle_s)
        grouped = False
        while not self.state.stopping:
            free = self.worker.concurrency - len(self._in_hand)
            if free <= 0:
                self._in_hand = wait(self._in_hand, timeout=self.worker.poll_s, return_when=FIRST_COMPLETED).not_done
                continue
            try:
                if not grouped:
                    consumer.ensure_group()
                    grouped = True
                taken = []
                if periodic.due():
                    metrics.sampled(self.stack, consumer.stats())
                    taken = consumer.reclaim(free)
                    metrics.RECLAIMED.labels(self.stack).inc(len(taken))
                    if pruning.due():
                        consumer.prune(self.worker.consumer_idle_s)
                taken = taken or consumer.read(free)
                self.state.queue_answered()
            except redis.RedisError as exc:
                metrics.QUEUE_ERRORS.labels(self.stack).inc()
                log.warning("queue unavailable", extra={"reason": type(exc).__name__})
                self.state.wait(QUEUE_RETRY_S)
                continue
            for entry, job_id in taken:  # read after a stop was requested too: they are in hand now
                self._in_hand.add(pool.submit(self._run, clients, consumer, entry, job_id))
            self._in_hand = {f for f in self._in_hand if not f.done()}

    def _drain(self) -> None:
        """Let the jobs in hand finish within the grace period; what is left stays pending, for another worker."""
        if not self._in_hand:
            return
        log.info("draining", extra={"jobs": len(self._in_hand)})
        left = wait(self._in_hand, timeout=self.state.grace_left(self.worker.grace_s)).not_done
        if left:
            # Their threads end with their deadline (every call is bounded by it); their entries stay pending.
            log.warning("grace period over", extra={"jobs_left": len(left)})

    def _run(self, clients: Clients, consumer: JobConsumer, entry: str, job_id: str) -> None:
        gauge = metrics.IN_PROGRESS.labels(self.stack)
        gauge.inc()
        try:
            begun = consumer.start(entry, job_id)
            self.state.queue_answered()  # a busy worker reads seldom: any answer shows the queue is reachable
            if isinstance(begun, Skipped):
                metrics.skipped(self.stack, begun.reason)
                return
            ending = self._score(clients, job_id, begun)
            if ending.kind == "retry":
                requeued = consumer.requeue(entry, job_id, ending.payload)
                metrics.retried(self.stack, ending.error, requeued)
                return
            result, error = (ending.payload, None) if ending.kind == "done" else (None, ending.payload)
            metrics.ended(self.stack, ending.kind, ending.error, consumer.finish(entry, job_id, result, error))
        except redis.RedisError as exc:
            # The entry stays pending: a worker takes it over after the visibility timeout.
            metrics.QUEUE_ERRORS.labels(self.stack).inc()
            log.warning("queue unavailable", extra={"job_id": job_id, "reason": type(exc).__name__})
        finally:
            gauge.dec()

    def _score(self, clients: Clients, job_id: str, begun: Started) -> Ending:
        """The job's body scored as the predict route scores it, within the scoring deadline from now."""
        try:
            body = ScoreRequest.model_validate_json(begun.body)
            answer = score(body, clients, job_context(job_id, self.scoring.deadline_s))
            return Ending.of_score(answer, begun.attempts, self.jobs.max_attempts)
        except ValidationError as exc:  # a body the route accepted always validates again: a 4xx all the same
            return Ending.of_error(request_error(exc.errors()), begun.attempts, self.jobs.max_attempts)
        except ApiError as err:
            return Ending.of_error(err, begun.attempts, self.jobs.max_attempts)
        except Exception:
            log.exception("unexpected error", extra={"job_id": job_id})
            return Ending.unexpected()


def open_clients(settings: ScoringSettings) -> Clients:
    """The scoring service's clients, the models over its transport (what the transport opens is closed when the
    process exits)."""
    clients = Clients(settings)
    clients.models = open_transport(settings, TransportSettings(), clients.models)
    return clients
