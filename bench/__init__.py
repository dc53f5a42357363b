"""Benchmarks: what the bot adds to a turn, against the seed notebook's design. See README.md."""
