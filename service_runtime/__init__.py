"""What runs inside every service process of both stacks.

- ``core``: framework-free pieces (errors, JSON, deadline, timings, tracing, topology, settings, OpenAPI);
- ``web``: one service wiring per framework (FastAPI, Flask), metrics and on-demand profiling;
- ``server``: gunicorn's configuration, its worker classes and their settings.
"""
