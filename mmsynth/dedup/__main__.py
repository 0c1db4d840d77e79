"""``python -m mmsynth.dedup`` = ``mmsynth dedup``."""

import sys

from mmsynth.dedup.command import main

sys.exit(main())
