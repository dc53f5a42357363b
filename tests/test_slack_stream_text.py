"""Where a long streamed Slack answer is cut into messages: on a paragraph's end, whatever
part of the message had already been sent when the cut was made."""

from __future__ import annotations

from adapters.slack.render import SLACK_CHUNK
from adapters.slack.stream_text import message_end

PARAGRAPH = "Paragraph: " + "word " * 80  # 411 characters


def test_the_cut_is_a_paragraphs_end_however_much_the_message_already_holds() -> None:
    # The rest of a paragraph the message has begun, then whole ones.
    text = "\n\n".join(["word " * 30, *[PARAGRAPH] * 12])
    for used in (0, 1000, 2900, 3300):  # what earlier pieces already put in the message
        room = SLACK_CHUNK - used
        cut = message_end(text, room, used=used)
        assert 0 < cut <= room, used
        assert text[:cut].endswith("\n\n"), used
        assert used + cut >= SLACK_CHUNK // 2, used


def test_without_a_paragraph_it_cuts_at_a_word_and_never_past_the_room() -> None:
    text = "word " * 2000
    cut = message_end(text, 500, used=3000)
    assert text[:cut].endswith(" ") and cut <= 500
