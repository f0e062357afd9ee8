"""The minimal twin stacks: the study's physical-limit anchor, measured beside the real stacks.

Each stack has a minimal twin with the same contract and the same answers, byte for byte: raw ASGI apps on
Granian with redis.asyncio (hiredis) and one aiohttp session per worker, and raw WSGI apps on Granian with
64 blocking threads, redis-py (hiredis) and urllib3 with a sized pool. They share with the real stacks
only the pure code: the feature store's key schema and vector policy, the model core and its simulated
wait, the scoring combination, the error shape and the JSON codec. How far a real stack is from its twin
is what its framework, middleware, server and clients cost.

Left out on purpose, since each would cost what the floor must not: no framework, no middleware, no
metrics, no logs per request, no tracing or request ids, no Server-Timing, no admission control or load
shedding, no readiness probe, docs or profiling, no edge, no graceful drain, and no defence against
hostile clients beyond Granian's own (slow bodies are not timed out). What stays: the predict route and
the liveness route, the same 4xx for bad input, bounded bodies and model answers, clients built once per
worker, and every outbound call with a timeout within the request's deadline.
"""
