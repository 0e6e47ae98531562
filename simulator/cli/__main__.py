"""``python -m simulator.cli``: the same as the ``sandbox`` command (``up`` starts its children this way)."""

from simulator.cli import main

main()
