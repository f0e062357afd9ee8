"""``python -m system_launcher``: what ``make up`` runs."""

import sys

from system_launcher.up import main

sys.exit(main())
