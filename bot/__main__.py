"""`python -m bot`: see `bot.cli`."""

from bot.gc_tuning import paused_for_imports

with paused_for_imports():
    from bot.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
