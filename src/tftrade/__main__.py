"""`python -m tftrade` runs the CLI (the same as the `tftrade` command)."""

from tftrade.cli import main

if __name__ == "__main__":
    main()
