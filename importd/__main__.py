import sys

from importd.commands.cli import main

sys.exit(main())
