import sys

from aivf.cli import main

sys.exit(main())
