"""`python -m edgeq.cli`."""

from edgeq.cli.app import main

main()
