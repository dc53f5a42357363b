"""Discord, split by job: `events` (pure, in), `render` (views and buttons, out), `commands`
(the app commands -> `bot.commands`), `connection` (login, gateway) and `app` (the adapter).

Imports are absolute, so this package never shadows the `discord` library.
"""

from adapters.discord.app import TEXT_ONLY, DiscordAdapter

__all__ = ["TEXT_ONLY", "DiscordAdapter"]
