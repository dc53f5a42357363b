"""What the command core says, in one place: every platform shows these words."""

from __future__ import annotations

NOTHING_KNOWN = "I don't remember anything about you yet. Tell me something and I'll keep it in mind."
KNOWN = "Here's what I remember about you ({count}):"
NOTHING_TO_FORGET = "I don't remember anything about you{matching}, so there's nothing to forget."
PREVIEW = "This will erase {what} ({count}):"
PREVIEW_FOOTER = "Erase them, or cancel to keep everything."
FORGOT = "Done. I erased {count} about you."
FORGOT_NOTHING = "Nothing needed erasing: I had nothing matching left."
KEPT = "Okay, I kept everything."
NOT_YOURS = "Sorry, only the person who ran /forget can confirm or cancel it."
EXPIRED = "This /forget has expired and I kept everything. Run /forget again if you still want to."
UNKNOWN_BUTTON = "Sorry, I don't recognise that button any more. Run the command again."
PHRASE_TOO_LONG = (
    "That phrase is too long for me to search for. Try a few words ({limit:,} characters at most)."
)
HOME_TITLE = "What I know about you"
HOME_EMPTY = "Nothing yet. Tell me about yourself in a DM or a thread and I'll remember it."
HOME_MORE = "Run /memories to see all {count}."
FORGOT_ONE = "Done. I erased that memory about you."
FORGOT_ONE_GONE = "That memory was already gone."
REMEMBERED = "Got it. I'll remember that you said: “{text}”"
ALREADY_REMEMBERED = "I already remember that."
NOT_YOUR_MESSAGE = "I can only remember what you said yourself, and that message is someone else's."
NOTHING_TO_REMEMBER = "That message has no text I could remember."
UNKNOWN_COMMAND = "I don't know that command. Try /memories, /forget [phrase], /link [code] or /unlink."
FAILED = "Sorry, something went wrong on my side. Please try again in a moment."
VISIBILITY_FOOTER = (
    "Private memories are used only in your direct messages with me; shared ones wherever you talk to me."
)
MADE_PRIVATE = "Done: “{text}” is now private. I'll use it only in our direct messages."
MADE_SHARED = "Done: “{text}” is now shared. I can use it wherever you talk to me."
VISIBILITY_GONE = "That memory is gone, so there was nothing to change."
NOT_YOUR_MEMORY = "Sorry, only the person these memories are about can change them."
