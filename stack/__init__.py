"""Running the system: the service registry, gunicorn config, Redis and the ``make up`` launcher."""
