"""The benchmark's manifest (study.toml): the variants, and each open-loop experiment's plan (quick overrides and
the command line's choices applied)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from benchmark.stacks.variants import Variant

MANIFEST = Path("benchmark/experiments/study.toml")


@dataclass(frozen=True)
class Choice:
    """What the command line chose for one run of an experiment: some of its variants, a number of repetitions."""

    variants: tuple[str, ...] = ()  # empty: the plan's
    repetitions: int | None = None  # None: the plan's

    def overrides(self) -> dict:
        """The plan's keys this choice replaces."""
        chosen = {"variants": list(self.variants)} if self.variants else {}
        return chosen | ({"repetitions": self.repetitions} if self.repetitions is not None else {})


@dataclass(frozen=True)
class Manifest:
    """Every variant by name, and the plan of each experiment."""

    variants: dict[str, Variant]
    plans: dict[str, dict]

    def plan(self, experiment: str, quick: bool, choice: Choice | None = None) -> dict:
        """One experiment's plan, with its ``quick`` table applied when quick, then ``choice``; its variants
        resolved."""
        if experiment not in self.plans:
            raise KeyError(f"the manifest has no [{experiment}] table")
        plan = {k: v for k, v in self.plans[experiment].items() if k != "quick"}
        if quick:
            plan |= self.plans[experiment].get("quick", {})
        plan |= (choice or Choice()).overrides()
        missing = [name for name in plan["variants"] if name not in self.variants]
        if missing:
            raise ValueError(f"[{experiment}] names variants the manifest does not define: {missing}")
        return plan | {"variants": [self.variants[name] for name in plan["variants"]]}


def load_manifest(path: Path = MANIFEST) -> Manifest:
    """Read and check the manifest."""
    data = tomllib.loads(path.read_text())
    variants = {name: Variant.from_table(name, table) for name, table in data.pop("variants").items()}
    return Manifest(variants, data)
