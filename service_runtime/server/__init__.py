"""The process manager every service runs under: gunicorn's config, its two worker classes, their settings."""
