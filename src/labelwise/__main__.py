"""``python -m labelwise`` runs the CLI."""

from labelwise.cli import main

main()
