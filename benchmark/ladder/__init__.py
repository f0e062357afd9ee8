"""Two rungs of the build ladder between the minimal twins and the reference's stacks, so that each layer's cost
is a measured difference.

``people`` (``*_people_*``): what people write from the frameworks' tutorials, untuned. FastAPI with pydantic
models, httpx and redis.asyncio opened in a lifespan with their defaults, both models at once with
``asyncio.gather``, served by ``uvicorn --workers``; Flask with ``requests.post`` per call, the models one after
the other, redis-py at module level, served by gunicorn's default sync workers. No timeouts but the libraries'
own, no admission, no metrics, no error shape: bad input gets whatever the framework answers.

``bare`` (``*_bare_*``): the reference's own routes, clients and error handlers on its own server and settings,
without its service middleware: no request ids, Server-Timing, metrics, access log, admission or body limit.

Both answer a good request with the reference's bytes: the same pydantic models, model and combination.
"""
