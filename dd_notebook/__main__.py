"""``python -m dd_notebook`` runs the command line."""

import sys

from .cli import main

sys.exit(main())
