"""``python -m authgate.cli``: the ``authgate`` program."""

import sys

from authgate.cli import main

sys.exit(main())
