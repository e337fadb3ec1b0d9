"""``python -m memtrace_server ...`` is the ``memtrace`` command."""

import sys

from .cli import main

sys.exit(main())
