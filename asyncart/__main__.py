"""``python -m asyncart`` runs the command line."""

from asyncart.cli.main import main

if __name__ == "__main__":  # not when a spawned worker process imports this as __mp_main__
    main()
