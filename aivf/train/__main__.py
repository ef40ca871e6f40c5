"""``python -m aivf.train`` / ``accelerate launch -m aivf.train -c FILE key=value --key=value``."""

import sys

from aivf.train.cli import main

sys.exit(main())
