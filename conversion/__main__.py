"""python -m conversion SRC OUT [--model NAME] [--num-classes N] [--force] [--push-to-hub ORG/NAME]"""

import sys

from swin_hub.hub.command import main

sys.exit(main())
