"""Bounded log files: a process's output copied to its log, which is rotated past a size so it can never fill a disk."""

from __future__ import annotations

import os
import threading
from pathlib import Path

MAX_BYTES = 10 * 1024 * 1024  # per file; the one before is kept as <name>.log.1


class BoundedLog:
    """Copies everything read from ``fd`` (a pipe) into ``path``, starting ``path.1`` anew past ``max_bytes``."""

    def __init__(self, fd: int, path: Path, max_bytes: int = MAX_BYTES) -> None:
        self.path, self.max_bytes = path, max_bytes
        self._fd = fd
        self._thread = threading.Thread(target=self._copy, name=f"log-{path.stem}", daemon=True)
        self._thread.start()

    def _copy(self) -> None:
        out = self.path.open("wb")
        written = 0
        try:
            while chunk := os.read(self._fd, 65_536):
                if written + len(chunk) > self.max_bytes:
                    out.close()
                    os.replace(self.path, self.path.with_name(self.path.name + ".1"))
                    out, written = self.path.open("wb"), 0
                out.write(chunk)
                out.flush()
                written += len(chunk)
        except OSError:
            pass  # the pipe or the file went away with the process
        finally:
            out.close()
            os.close(self._fd)

    def join(self, timeout_s: float = 2.0) -> None:
        """Wait until the process's last output is written (its pipe closes when the process group has gone)."""
        self._thread.join(timeout_s)
