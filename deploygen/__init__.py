"""Generating the deployment files from the registry and the settings classes.

``compose``: docker-compose.yml; ``k8s``: each Kubernetes overlay's commands and the base's settings;
``env_example``: .env.example; ``containers``: what containers add (images, limits, worker counts).
``python -m deploygen`` writes them all (``make deploy-files``); tests fail when a committed one is stale.
"""
