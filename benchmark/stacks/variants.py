"""What the benchmark measures: a variant is a stack (or its minimal twin), the path requests take to it, and the
settings its services run with; ``running_variant`` starts one on free ports and says where to send load."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from benchmark.stacks.running import running_stack
from reference.api import predict_path
from system_launcher.topology import STACKS, Stack

Path_ = Literal["edge", "direct"]
Kind = Literal["full", "minimal"]


@dataclass(frozen=True)
class Variant:
    """One configuration the experiments run: which stack, how it is reached, with which settings."""

    name: str
    stack: Stack
    about: str
    path: Path_ = "direct"  # through the edge, as users reach it, or straight to the scoring server
    kind: Kind = "full"  # the project's stack, or its minimal twin (benchmark/minimal)
    env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.stack not in STACKS:
            raise ValueError(f"variant {self.name}: stack must be one of {STACKS}, not {self.stack!r}")
        if self.path not in ("edge", "direct"):
            raise ValueError(f"variant {self.name}: path must be edge or direct, not {self.path!r}")
        if self.kind not in ("full", "minimal"):
            raise ValueError(f"variant {self.name}: kind must be full or minimal, not {self.kind!r}")
        if self.kind == "minimal" and (self.path == "edge" or self.env):
            raise ValueError(f"variant {self.name}: a minimal stack has no edge and no settings")

    @classmethod
    def from_table(cls, name: str, table: dict) -> Variant:
        """A variant from its manifest table (``env`` values may be numbers or booleans: they become strings)."""
        unknown = set(table) - {"stack", "about", "path", "kind", "env"}
        if unknown:
            raise ValueError(f"variant {name}: unknown keys {sorted(unknown)}")
        env = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in table.get("env", {}).items()}
        return cls(name=name, stack=table["stack"], about=table["about"], path=table.get("path", "direct"),
                   kind=table.get("kind", "full"), env=env)  # fmt: skip


class RunningVariant(Protocol):
    """What an experiment needs from a started variant."""

    def predict_url(self) -> str: ...  # where the load goes
    def cpu_s(self) -> float: ...  # CPU seconds of every process of the variant so far
    def rss_kib(self) -> int: ...
    def process_groups(self) -> set[int]: ...


@dataclass
class _Started:
    """A started stack (full or minimal), reached by the variant's path."""

    variant: Variant
    running: object

    def predict_url(self) -> str:
        return self.running.base_url(self.variant.path) + predict_path(self.variant.stack)

    def cpu_s(self) -> float:
        return self.running.cpu_s()

    def rss_kib(self) -> int:
        return self.running.rss_kib()

    def process_groups(self) -> set[int]:
        return self.running.process_groups()


@contextlib.contextmanager
def running_variant(variant: Variant, log_dir: Path = Path("var/log/bench"), say=print) -> Iterator[RunningVariant]:
    """Start the variant alone on free ports, yield it, stop it."""
    if variant.kind == "minimal":  # its twin in benchmark/minimal, on Granian, never behind an edge
        with running_stack(variant.stack, log_dir=log_dir, say=say, build="minimal") as running:
            yield _Started(variant, running)
        return
    # With the edge off, the scoring server listens on the port users know: the direct path without Envoy running.
    env = variant.env if variant.path == "edge" else {"STACK_EDGE": "false", **variant.env}
    with running_stack(variant.stack, env, log_dir=log_dir, say=say) as running:
        yield _Started(variant, running)
