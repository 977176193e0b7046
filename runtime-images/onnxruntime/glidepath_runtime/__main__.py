"""``python -m glidepath_runtime``: the same as the ``glidepath-runtime`` command."""

import sys

from glidepath_runtime.cli import main

sys.exit(main())
