"""The load test's step ramp: ``--step-users`` more users every ``--step-s`` seconds, for ``--ramp-s`` seconds.

Load it beside the locustfile: ``locust -f benchmark/load/locustfile.py,benchmark/load/shapes.py --headless ...``
(a LoadTestShape replaces ``-u``/``-r``/``--run-time``, which cannot be combined with it).
"""

from __future__ import annotations

from locust import LoadTestShape


class StepRamp(LoadTestShape):
    """Users = step x step_users, stepping every step_s seconds, stopping after ramp_s seconds."""

    def tick(self):
        """The users and spawn rate for now, or None to stop the test."""
        options = self.runner.environment.parsed_options
        run_time = self.get_run_time()
        if run_time >= options.ramp_s:
            return None
        step = int(run_time // options.step_s) + 1
        # Spawn a step's users within about a second, so each step is mostly steady state.
        return step * options.step_users, max(1.0, float(options.step_users))
