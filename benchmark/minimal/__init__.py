"""The minimal twins of the six services: the floor each stack is measured against.

Each service has a twin with the same contract and the same answers, byte for byte: raw ASGI apps on Granian
with redis.asyncio and one aiohttp session per worker, and raw WSGI apps on Granian with gthread's thread count,
redis-py and urllib3 pools. They share with the reference only its pure code (``reference.core``,
``reference.api``) and its settings: the store's keys and vector policy, the model and its simulated cost, the
combination, the request and answer models and the one error shape. How far a stack is from its twin is what its
framework, middleware, server and clients cost.

Left out, since each would cost what the floor must not: no framework, no middleware, no metrics, no per-request
logs, no request ids or Server-Timing, no admission control, no readiness probe, docs, job mode or profiling, no
edge, no graceful drain, and no defence against hostile clients beyond Granian's own. What stays: the predict route
and the liveness route, the reference's answers and error statuses for bad input, bounded bodies and model answers,
clients built once per worker, and every outbound call with a timeout within the request's deadline.
"""
