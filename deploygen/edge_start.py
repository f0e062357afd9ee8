"""``python -m deploygen.edge_start {compose|kubernetes} STACK``: the command of an edge container.

It renders the stack's Envoy configuration at start, from the settings in its environment (``.env`` under compose,
the settings ConfigMap in Kubernetes): the same ``MAX_BODY_BYTES``, ``SERVER_KEEPALIVE_S``, ``SCORING_DEADLINE_S``,
in-flight limits and ``EDGE_*`` as the scoring service behind it reads, so a changed setting changes both. Then it
becomes Envoy, its admin interface on a Unix socket in the container's own ``/tmp``.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import get_args

from deploygen.containers import PLATFORMS, Platform, container_env
from deploygen.platforms import EDGE_RUN_DIR, compose_settings, k8s_settings
from system_launcher.edge import EdgePlan, EdgeSettings, edge_argv, edge_config, find_envoy
from system_launcher.registry import edge_plan, service
from system_launcher.topology import Stack


def plan(platform: Platform, stack: Stack) -> EdgePlan:
    """Where the edge listens and forwards on ``platform``, from its scoring service's environment there and the
    settings this process reads."""
    settings = compose_settings() if platform == "compose" else k8s_settings(stack)
    return edge_plan(stack, settings, container_env(service(stack, "scoring"), settings))


def config_path(stack: Stack) -> Path:
    """Where the rendered configuration goes."""
    return EDGE_RUN_DIR / f"{stack}-edge.json"


def main(argv: list[str] | None = None) -> None:
    """Render the configuration, then exec Envoy on it."""
    cli = argparse.ArgumentParser(
        prog="python -m deploygen.edge_start",
        description="An edge container's command: render the stack's Envoy configuration from the settings in the "
        "environment, then become Envoy.",
    )
    cli.add_argument("platform", choices=PLATFORMS, help="where the edge runs: its addresses and ports")
    cli.add_argument("stack", choices=get_args(Stack), help="the stack whose scoring service it fronts")
    args = cli.parse_args(argv)
    settings, edge = EdgeSettings(), plan(args.platform, args.stack)
    path = config_path(args.stack)
    path.write_text(json.dumps(edge_config(edge, settings), indent=1))
    # A socket left by an earlier run of this container (a Kubernetes emptyDir outlives it) would stop Envoy.
    Path(edge.admin_socket).unlink(missing_ok=True)
    envoy = find_envoy()
    os.execv(envoy, edge_argv(str(path), settings, envoy))


if __name__ == "__main__":
    main()
