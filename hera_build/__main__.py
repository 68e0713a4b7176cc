import sys

from hera_build.cli import main

sys.exit(main())
