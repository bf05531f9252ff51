"""``python -m autoconv.cli``: the ``autoconv`` command."""

from autoconv.cli import main

main()
