"""``python -m pgx``: the same as the ``pgx`` console script."""

import sys

from pgx.cli import main

sys.exit(main())
