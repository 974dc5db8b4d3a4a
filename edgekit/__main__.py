"""`python -m edgekit` entry point."""

from edgekit.cli import main

if __name__ == "__main__":
    main()
