"""`python -m bot ...`: see bot/cli.py for the commands and exit codes."""

import sys

from .cli import main

sys.exit(main())
