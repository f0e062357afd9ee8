"""wrk (Debian's package) as a closed-loop load generator whose every answer is checked against its expected bytes."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from benchmark.load.expected import expected_body
from reference.api import predict_path
from system_launcher.topology import Stack

ENTITIES = 1000  # ids 0..999, rotated; every answer names its entity, so each is checked exactly


def wrk_script(stack: Stack) -> str:
    """A wrk Lua script: rotate entities, check every answer against its expected bytes, print JSON."""
    bodies = "\n".join(f'  ["{i}"] = [[{expected_body(str(i)).decode()}]],' for i in range(ENTITIES))
    return f"""
local expected = {{
{bodies}
}}
local path = "{predict_path(stack)}"
local counter = 0
invalid = 0  -- a global: done() reads it from every thread with thread:get()
local threads = {{}}
function setup(thread) table.insert(threads, thread) end
function request()
  counter = counter + 1
  return wrk.format("POST", path, {{["Content-Type"] = "application/json"}},
                    '{{"entity_id": "' .. (counter % {ENTITIES}) .. '"}}')
end
function response(status, headers, body)
  local id = string.match(body, '"entity_id":"([^"]+)"')
  if status ~= 200 or id == nil or expected[id] ~= body then invalid = invalid + 1 end
end
function done(summary, latency, requests)
  local bad = 0
  for _, t in ipairs(threads) do bad = bad + t:get("invalid") end
  local e = summary.errors
  io.write(string.format('PERF {{"requests": %d, "duration_s": %.3f, "p50_ms": %.3f, "p90_ms": %.3f, ' ..
    '"p99_ms": %.3f, "max_ms": %.3f, "errors": %d}}\\n', summary.requests, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, e.connect + e.read + e.write + e.timeout + bad))
end
"""


def run_wrk(url: str, connections: int, duration_s: float, script: Path) -> dict:
    """One wrk run (one thread, ``connections`` connections); its JSON summary."""
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration_s))}s", "--timeout", "5s",
         "-s", str(script), url],
        capture_output=True, text=True, timeout=duration_s + 60, check=True,
    ).stdout  # fmt: skip
    return json.loads(next(line for line in out.splitlines() if line.startswith("PERF ")).removeprefix("PERF "))
