"""Platform connections break while a model call is in flight: every message answered once.

The existing adapter tests cover drops between turns; here the socket goes away (or the
gateway asks for a reconnect) while the fake model is still thinking, and the platforms
redeliver what they may think was lost.
"""

from __future__ import annotations

from tests.fakes.openai_server import Hang
from tests.fakes.slack_server import PLACEHOLDER
from tests.reliability.conftest import DiscordWorld, SlackWorld, Tally, eventually, quiet

THINKING = Hang(0.6)  # long enough to drop the socket mid-call, short of the timeout


def count_replies(texts: list[str], markers: list[str], tally: Tally) -> None:
    """Record lost and duplicated replies: each marker must appear in exactly one text."""
    tally.turns_run += len(markers)
    for marker in markers:
        hits = sum(marker in text for text in texts)
        tally.replies_lost += hits == 0
        tally.duplicates += max(0, hits - 1)


async def test_slack_socket_dropped_mid_turn_then_redelivered(slack_world: SlackWorld, tally: Tally) -> None:
    slack, openai = slack_world.slack, slack_world.openai
    openai.script(THINKING)
    event = slack.message_event("D1", "first while thinking", user="U1")
    await slack.send_event(event, event_id="EvMID1")
    await eventually(lambda: openai.in_flight == 1, what="the model call to start")

    await slack.drop_socket()
    tally.faults_injected += 1
    await slack.wait_connected(connections=2)
    # Slack may think the ack was lost and send the same event again after the reconnect.
    await slack.send_event(event, event_id="EvMID1", retry_attempt=1)
    tally.faults_injected += 1
    await slack.send_message("D1", "second after reconnect", user="U1")
    await slack.wait_for_messages(channel="D1", count=2)
    await quiet()

    texts = [message.text for message in slack.messages_in("D1")]
    count_replies(texts, ["first while thinking", "second after reconnect"], tally)
    assert len(texts) == 2, texts
    assert PLACEHOLDER not in texts


async def test_slack_unacked_envelope_redelivered_while_another_turn_thinks(
    slack_world: SlackWorld, tally: Tally
) -> None:
    slack, openai = slack_world.slack, slack_world.openai
    openai.script(THINKING, THINKING)
    ts = await slack.send_message("C1", "<@UBOT> start a thread", user="U1")
    await eventually(lambda: openai.in_flight == 1, what="the first model call")
    # Bruno's follow-up is pushed and the socket dies before its ack can come back.
    await slack.send_event(
        slack.message_event("C1", "bruno chimes in", user="U2", thread_ts=ts), wait_ack=False
    )
    await slack.drop_socket()
    tally.faults_injected += 1
    await slack.wait_connected(connections=2)
    await slack.redeliver_unacked()
    # And a redelivery of an envelope that *was* acked (Slack retries on slow acks too).
    await slack.send_event(slack.envelopes[0].message["payload"]["event"], retry_attempt=1)
    tally.faults_injected += 1

    await slack.wait_for_messages(channel="C1", thread_ts=ts, count=2)
    await quiet()
    texts = [message.text for message in slack.messages_in("C1", ts)]
    count_replies(texts, ["start a thread", "bruno chimes in"], tally)
    assert len(texts) == 2, texts
    assert slack.messages_in("C1") == []


async def test_discord_reconnect_request_mid_turn(discord_world: DiscordWorld, tally: Tally) -> None:
    discord, openai = discord_world.discord, discord_world.openai
    ana, bo = discord_world.ana, discord_world.bo
    discord.duplicate_on_resume = 2  # the resumed session also replays what was seen
    openai.script(THINKING)
    await discord.push_dm(ana, "ana while thinking")
    await eventually(lambda: openai.in_flight == 1, what="the model call to start")

    await discord.request_reconnect()
    tally.faults_injected += 1
    await discord.push_dm(bo, "bo during the reconnect")
    await discord.wait_for_resume()
    await discord.push_dm(ana, "ana after the resume")

    await discord.wait_for_messages(discord.dm_channel_id(ana), 2)
    await discord.wait_for_messages(discord.dm_channel_id(bo), 1)
    await quiet()
    texts = [m.content for m in discord.messages]
    count_replies(texts, ["ana while thinking", "bo during the reconnect", "ana after the resume"], tally)
    assert len(texts) == 3, texts
    assert discord.identify_count == 1 and discord.resume_count == 1


async def test_discord_socket_dropped_mid_turn_in_a_server_thread(
    discord_world: DiscordWorld, tally: Tally
) -> None:
    discord, openai = discord_world.discord, discord_world.openai
    ana, bo = discord_world.ana, discord_world.bo
    mention = await discord.push_guild_message(ana, "start a thread", mention_bot=True)
    thread = int(mention["id"])
    await discord.wait_for_messages(thread, 1)

    discord.duplicate_on_resume = 3
    openai.script(THINKING)
    await discord.push_guild_message(bo, "bo follows up", channel_id=thread)
    await eventually(lambda: openai.in_flight == 1, what="the model call to start")
    await discord.drop_connection()
    tally.faults_injected += 1
    await discord.push_guild_message(ana, "ana while the socket is down", channel_id=thread)
    await discord.wait_for_resume()

    await discord.wait_for_messages(thread, 3)
    await quiet()
    texts = [m.content for m in discord.messages if m.channel_id == thread]
    count_replies(texts, ["start a thread", "bo follows up", "ana while the socket is down"], tally)
    assert len(texts) == 3, texts
    assert len(discord.threads) == 1
