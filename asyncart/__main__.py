"""``python -m asyncart`` runs the command line."""

from asyncart.cli.main import main

main()
