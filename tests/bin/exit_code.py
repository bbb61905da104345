"""Exit with status CODE. argv: CODE."""

import sys

sys.exit(int(sys.argv[1]))
