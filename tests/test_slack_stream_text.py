"""Where a long streamed Slack answer is cut into messages: on a paragraph's end, whatever
part of the message had already been sent when the cut was made."""

from __future__ import annotations

from adapters.slack.render import SLACK_CHUNK
from adapters.slack.stream_text import message_end, whole_paragraphs

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


def test_a_message_that_shows_whole_paragraphs_ends_as_it_is_rather_than_mid_paragraph() -> None:
    # Near its end a message shows only whole paragraphs (streaming); when the next one does
    # not fit, the message ends there and the paragraph starts the next one.
    text = "\n\n".join([PARAGRAPH] * 3)
    assert message_end(text, 200, used=3300, shown_whole=True) == 0
    assert text[: message_end(text, 200, used=3300)].endswith(" ")  # without it: mid-paragraph
    assert message_end(text, 900, used=2600, shown_whole=True) == len(PARAGRAPH) * 2 + 4


def test_only_whole_paragraphs_are_held_up_to_their_end() -> None:
    assert whole_paragraphs("one\n\ntwo\n\nthr") == "one\n\ntwo\n\n"
    assert whole_paragraphs("no paragraph end yet") == ""
