"""``python -m mmsynth.preview OUT_DIR --out preview.html [--n 200] [--seed 0]``."""

import sys

from mmsynth.preview import main

sys.exit(main())
