"""``python -m chronoscale.cli``: the ``chronoscale`` command."""

import sys

from . import main

sys.exit(main())
