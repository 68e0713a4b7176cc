import sys

from hera_build._cli import main

sys.exit(main())
