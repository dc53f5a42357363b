"""The Slack adapter: `events` (pure inbound translation), `render` (mrkdwn and Block Kit),
`commands` (slash commands and buttons -> `bot.commands`), `conversation` (which events to
answer and how the answer is delivered), `lookups` (names, channels, thread history) and
`app` (the Bolt app and the connection)."""

from adapters.slack.app import SlackAdapter, SlackAuthError

__all__ = ["SlackAdapter", "SlackAuthError"]
