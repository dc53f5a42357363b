"""`python -m bot`: see `bot.cli`."""

from bot.gc_tuning import freeze_what_exists, paused_for_imports

with paused_for_imports():
    from bot.cli import main

    freeze_what_exists()  # before the collector is back on: it would walk them all at once

if __name__ == "__main__":
    raise SystemExit(main())
