"""How long to wait before restarting a process that died: doubling per quick death, reset after a stable run."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class RestartBackoff:
    """Per process name: ``first_s``, then twice as long per death up to ``max_s``; a run of ``stable_s`` resets it."""

    first_s: float = 1.0
    max_s: float = 30.0
    stable_s: float = 60.0
    deaths: dict[str, int] = field(default_factory=dict)

    def delay(self, name: str, ran_s: float) -> float:
        """The wait before restarting ``name``, which ran ``ran_s`` seconds before it died; counts this death."""
        if ran_s >= self.stable_s:
            self.deaths[name] = 0
        count = self.deaths.get(name, 0)
        self.deaths[name] = count + 1
        return min(self.max_s, self.first_s * 2**count)

    def restarts(self, name: str) -> int:
        """How many times ``name`` died in a row (without a stable run in between)."""
        return self.deaths.get(name, 0)
