"""``python -m autoconv``: the command line (how ``--workers`` starts its processes)."""

from autoconv.cli import main

if __name__ == "__main__":
    main()
