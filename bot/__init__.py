"""The platform-neutral core of the memory bot."""
