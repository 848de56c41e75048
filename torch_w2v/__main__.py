"""``python -m torch_w2v``: the ``torch-w2v`` command (also under ``torchrun``)."""
import sys

from .cli import main

sys.exit(main())
