"""python -m normdeploy ... (same as the `normdeploy` command)."""

import sys

from .cli.main import main

sys.exit(main())
