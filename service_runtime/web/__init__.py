"""One service wiring per framework (``service_async``: FastAPI, ``service_sync``: Flask), metrics, profiling."""
