import sys

from mmsynth.cli import main

sys.exit(main())
