"""Generating the deployment files from the registry and the settings classes.

``compose``: docker-compose.yml; ``k8s``: each Kubernetes overlay's commands and the base's settings;
``env_files``: .env.example (production) and lab.env.example, from ``settings_catalog`` (every setting, who sets it);
``observability``: Prometheus' scrape configuration and the dashboard; ``containers`` and ``platforms``: what
containers add to the registry. ``python -m deploygen`` writes them all (``make deploy-files``); tests fail when a
committed one is stale. Two modules run inside containers: ``edge_start`` (an edge's command) and ``redis_auth``
(compose's one-shot writing Redis' password).
"""
