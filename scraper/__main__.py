"""``python -m scraper``: the same as the ``crawl`` command."""

import sys

from .cli import main

sys.exit(main())
