"""``python -m losskit``: the same as the ``losskit`` command."""

from losskit.cli import main

if __name__ == "__main__":  # not when pytest imports this module for its doctests
    raise SystemExit(main())
