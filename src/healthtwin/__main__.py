"""``python -m healthtwin`` runs the command line."""

from __future__ import annotations

import sys

from healthtwin.cli import main

sys.exit(main())
