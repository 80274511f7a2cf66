import sys

from mgmrn.cli.main import main

sys.exit(main())
