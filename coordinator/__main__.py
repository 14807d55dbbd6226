"""``python -m coordinator`` runs the same command as ``coordinator``."""

import sys

from coordinator.cli import main

sys.exit(main())
