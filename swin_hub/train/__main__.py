"""`accelerate launch -m swin_hub.train ...` (or `python -m swin_hub.train ...`)."""

import sys

from .loop import main

sys.exit(main())
