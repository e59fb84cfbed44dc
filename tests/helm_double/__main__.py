"""``python -m helm_double ARGS`` runs the helm test double (see the package docstring)."""

import sys

from helm_double.cli import main

sys.exit(main())
