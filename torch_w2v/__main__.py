"""``python -m torch_w2v``: the ``torch-w2v`` command (also under ``torchrun``)."""
import sys

from .cli import main

if __name__ == "__main__":  # importing the module (docs tools do) runs nothing
    sys.exit(main())
