"""``AsyncJobWorker``: the async stack's job worker, many jobs at once on one event loop (uvloop)."""

from __future__ import annotations

import asyncio
import logging
import signal
from contextlib import AsyncExitStack

import redis
from pydantic import ValidationError

from inference_protocol.clients_async import open_transport
from inference_protocol.settings import TransportSettings
from job_queue.consumer_async import AsyncJobConsumer
from job_queue.record import Skipped, Started
from job_queue.settings import JobSettings
from job_worker import metrics
from job_worker.settings import WorkerSettings
from job_worker.worker import QUEUE_RETRY_S, Ending, Pacing, WorkerState, consumer_name, job_context
from reference.api import ScoreRequest, request_error
from reference.clients_async import AsyncFeatureReader, AsyncModelClient, model_clients, open_session
from reference.core import ApiError
from reference.scoring_async import score
from reference.settings import ScoringSettings

log = logging.getLogger("job_worker")


class AsyncJobWorker:
    """Takes jobs from the async stack's queue and scores them with the reference's ``score()``, the predict
    route's own code, over the scoring service's clients and transport, up to ``WORKER_CONCURRENCY`` at once; on
    SIGTERM takes no new job and finishes those in hand within ``WORKER_GRACE_S``."""

    def __init__(self, worker: WorkerSettings, jobs: JobSettings, scoring: ScoringSettings, state: WorkerState) -> None:
        self.worker, self.jobs, self.scoring, self.state = worker, jobs, scoring, state
        self.stack = worker.stack
        self._in_hand: set[asyncio.Task] = set()

    def run(self) -> None:
        """Run until stopped (SIGTERM or SIGINT)."""
        import uvloop

        uvloop.run(self._main())

    async def _main(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.state.request_stop)
        # One connection per job in hand, one for the blocking read, one for the periodic work.
        consumer = AsyncJobConsumer(self.jobs, self.stack, consumer_name(self.worker), self.worker.poll_s,
                                    self.worker.concurrency + 2)  # fmt: skip
        async with AsyncExitStack() as stack:
            stack.push_async_callback(consumer.aclose)
            features = AsyncFeatureReader(self.scoring)
            stack.push_async_callback(features.aclose)
            session = await stack.enter_async_context(open_session(self.scoring))
            models = await stack.enter_async_context(
                open_transport(self.scoring, TransportSettings(), model_clients(self.scoring, session))
            )
            log.info("started", extra={"consumer": consumer.name, "concurrency": self.worker.concurrency})
            await self._loop(features, models, consumer)
            await self._drain()
        log.info("stopped", extra={"consumer": consumer.name})

    async def _loop(self, features: AsyncFeatureReader, models: list[AsyncModelClient],
                    consumer: AsyncJobConsumer) -> None:  # fmt: skip
        periodic = Pacing(self.worker.reclaim_interval_s)
        pruning = Pacing(self.worker.consumer_idle_s)
        grouped = False
        while not self.state.stopping:
            free = self.worker.concurrency - len(self._in_hand)
            if free <= 0:
                await asyncio.wait(self._in_hand, timeout=self.worker.poll_s, return_when=asyncio.FIRST_COMPLETED)
                continue
            try:
                if not grouped:
                    await consumer.ensure_group()
                    grouped = True
                taken = []
                if periodic.due():
                    metrics.sampled(self.stack, await consumer.stats())
                    taken = await consumer.reclaim(free)
                    metrics.RECLAIMED.labels(self.stack).inc(len(taken))
                    if pruning.due():
                        await consumer.prune(self.worker.consumer_idle_s)
                taken = taken or await consumer.read(free)
                self.state.queue_answered()
            except (redis.RedisError, TimeoutError) as exc:
                metrics.QUEUE_ERRORS.labels(self.stack).inc()
                log.warning("queue unavailable", extra={"reason": type(exc).__name__})
                await asyncio.sleep(QUEUE_RETRY_S)
                continue
            for entry, job_id in taken:  # read after a stop was requested too: they are in hand now
                task = asyncio.create_task(self._run(features, models, consumer, entry, job_id))
                self._in_hand.add(task)
                task.add_done_callback(self._in_hand.discard)

    async def _drain(self) -> None:
        """Let the jobs in hand finish within the grace period; what is left stays pending, for another worker."""
        if not self._in_hand:
            return
        log.info("draining", extra={"jobs": len(self._in_hand)})
        _, left = await asyncio.wait(self._in_hand, timeout=self.state.grace_left(self.worker.grace_s))
        for task in left:
            task.cancel()
        if left:
            log.warning("grace period over", extra={"jobs_left": len(left)})
            await asyncio.wait(left)

    async def _run(self, features: AsyncFeatureReader, models: list[AsyncModelClient], consumer: AsyncJobConsumer,
                   entry: str, job_id: str) -> None:  # fmt: skip
        gauge = metrics.IN_PROGRESS.labels(self.stack)
        gauge.inc()
        try:
            begun = await consumer.start(entry, job_id)
            self.state.queue_answered()  # a busy worker reads seldom: any answer shows the queue is reachable
            if isinstance(begun, Skipped):
                metrics.skipped(self.stack, begun.reason)
                return
            ending = await self._score(features, models, job_id, begun)
            if ending.kind == "retry":
                requeued = await consumer.requeue(entry, job_id, ending.payload)
                metrics.retried(self.stack, ending.error, requeued)
                return
            result, error = (ending.payload, None) if ending.kind == "done" else (None, ending.payload)
            metrics.ended(self.stack, ending.kind, ending.error, await consumer.finish(entry, job_id, result, error))
        except (redis.RedisError, TimeoutError) as exc:
            # The entry stays pending: a worker takes it over after the visibility timeout.
            metrics.QUEUE_ERRORS.labels(self.stack).inc()
            log.warning("queue unavailable", extra={"job_id": job_id, "reason": type(exc).__name__})
        finally:
            gauge.dec()

    async def _score(self, features: AsyncFeatureReader, models: list[AsyncModelClient], job_id: str,
                     begun: Started) -> Ending:  # fmt: skip
        """The job's body scored as the predict route scores it, within the scoring deadline from now."""
        try:
            body = ScoreRequest.model_validate_json(begun.body)
            answer = await score(body, features, models, job_context(job_id, self.scoring.deadline_s))
            return Ending.of_score(answer, begun.attempts, self.jobs.max_attempts)
        except ValidationError as exc:  # a body the route accepted always validates again: a 4xx all the same
            return Ending.of_error(request_error(exc.errors()), begun.attempts, self.jobs.max_attempts)
        except ApiError as err:
            return Ending.of_error(err, begun.attempts, self.jobs.max_attempts)
        except Exception:
            log.exception("unexpected error", extra={"job_id": job_id})
            return Ending.unexpected()
