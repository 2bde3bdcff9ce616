"""`python -m aiphone` is the `aiphone` command."""

import sys

from aiphone.cli import main

sys.exit(main())
