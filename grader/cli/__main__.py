"""``python -m grader.cli`` is the ``grade`` command too."""

from . import main

main()
