"""``python -m system_launcher``: what ``make up`` runs."""

import signal
import sys

# Before the imports below, which take a while on a busy machine: a SIGINT or SIGTERM arriving meanwhile is kept and
# acted on once the launcher's own handler is in place. (A script's background job inherits SIGINT as ignored, so
# without this such a signal would be lost and `make up` would start everything anyway.)
EARLY_SIGNALS: list[int] = []
for _signum in (signal.SIGINT, signal.SIGTERM):
    signal.signal(_signum, lambda signum, frame: EARLY_SIGNALS.append(signum))

from system_launcher.up import main  # noqa: E402

sys.exit(main(early_signals=EARLY_SIGNALS))
