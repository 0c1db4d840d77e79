import sys

from mmsynth.generate import main

sys.exit(main())
