"""`python -m demo --help`."""

import sys

from demo.run import main

sys.exit(main())
