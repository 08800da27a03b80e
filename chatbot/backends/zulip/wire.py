"""Zulip's wire facts and what arrives from it: environment variables, limits and feature levels, a message's text as a command (quotes, code and spoilers set aside), reactions, long content split."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from ...commands import looks_like_command
from ...inbox import RATE_BURST, RATE_REFILL, RateLimiter
from ...listings import DONE_RE, NUMBERED_RE, listed_items  # noqa: F401 (re-exported: where they were)
from ...messages import split_long

log = logging.getLogger("chatbot.backends.zulip")


SITE_ENV = "ZULIP_SITE"
EMAIL_ENV = "ZULIP_EMAIL"
API_KEY_ENV = "ZULIP_API_KEY"
CONFIG_FILE_ENV = "ZULIP_CONFIG"

ZWSP = "\u200b"
MAX_TOPIC = 60  # Zulip's limit on topic names (code points), until the server says otherwise
MAX_CONTENT = 10000  # Zulip's default max message length (code points; a server may set another)
# Answers that mean the credentials themselves are wrong: retrying cannot help.
AUTH_ERRORS = {
    "UNAUTHORIZED",
    "INVALID_API_KEY",
    "USER_DEACTIVATED",
    "REALM_DEACTIVATED",
    "INVALID_ZULIP_SERVER",
    "UNAUTHENTICATED_USER",
}
# seconds the user list is trusted: then it is fetched again (a mention @**Name|id** only counts
# with the user's current name), and not before (someone not in it is not asked for each time)
USER_CACHE_TTL = 300.0
GITHUB_FIELD_TYPE = 7  # custom profile field type "external account"; subtype github
# Catching up after a lost event queue: at most this many messages, none older than this.
CATCH_UP_MAX = 1000
CATCH_UP_WINDOW = 24 * 3600.0  # seconds
CATCH_UP_BATCH = 200  # messages per GET /messages (Zulip recommends at most 1000)
SEEN_IDS_KEPT = 5000  # message ids remembered as handled, so none is handled twice
# the per-conversation command rate and the listings are the core's (chatbot.inbox, chatbot.listings)
REPLY_BURST, REPLY_REFILL, ReplyLimiter = RATE_BURST, RATE_REFILL, RateLimiter
FEATURE_INCLUDE_ANCHOR = 155  # Zulip 6.0: GET /messages takes include_anchor
FEATURE_IS_DM = 177  # Zulip 7.0: the narrow is:dm (before: is:private), and dm: (before: pm-with:)
FEATURE_CHANNEL = 250  # Zulip 9.0: the narrow operator channel (before: stream)
FIND_RECENT = 100  # the bot's newest messages in a topic looked at after a crash
FIND_SLACK_SECONDS = 120  # and only those from this long before the intent on (clock skew)
# Reactions that tick an action item: ✅ (Zulip's name "check", aliases "all_good", "approved";
# other emoji sets call it "white_check_mark"), ✔ ("check_mark", "heavy_check_mark") and ☑
# ("checkbox", "ballot_box_with_check"). Matched by Unicode code point (emoji_code) where the
# reaction is a Unicode emoji, so any name the server uses works; by name otherwise.
CHECK_CODES = {"2705", "2714", "2611"}
CHECK_NAMES = {
    "check",
    "white_check_mark",
    "all_good",
    "approved",
    "check_mark",
    "heavy_check_mark",
    "checkbox",
    "ballot_box_with_check",
}
# the bot's confirmation when it cannot edit its message (e.g. past the organization's edit limit)
CONFIRM_REACTION = {"emoji_name": "check", "emoji_code": "2705", "reaction_type": "unicode_emoji"}
MENTION_RE = re.compile(r"@_?\*\*(?P<name>[^*|]*)(?:\|(?P<id>\d+))?\*\*")
# The header Zulip's "quote and reply" (and "quote") writes before the quoted block:
# "@_**Agenda Bot|100** [said](https://…/#narrow/…/near/123):" (the word is translated). It
# silently mentions the quoted message's sender, so quoting the bot is not talking to it.
QUOTE_HEADER_RE = re.compile(
    r"^[ \t]*@_\*\*[^*\n]+\*\*[ \t]*\[[^\]\n]*\]\([^)\s]*\)[ \t]*:?[ \t]*\n"
    r"(?=[ \t]*(?:`{3,}|~{3,}))",
    re.M,
)
# Mention syntax where Zulip would recognize it (BEFORE_MENTION_ALLOWED_REGEX): @**…**, @_**…**,
# @*group*, and the bare wildcards older servers took.
MENTION_START_RE = re.compile(
    r"(?<![^\s'\"({\[/<])@(?=_?\*|_?(?:all|everyone|stream|channel|topic|online|here)\b)", re.I
)
# inline code (`…`, ``…``) as Python-Markdown's BACKTICK_RE finds it, within a paragraph: Zulip
# renders no mention inside it
CODE_SPAN_RE = re.compile(r"(?<!\\)(`+)((?:(?!\n[ \t]*\n).)+?)(?<!`)\1(?!`)", re.S)
# fenced blocks (```quote, ```python, ~~~ …) up to their closing fence or the end
FENCE_RE = re.compile(r"^[ \t]*(?P<fence>`{3,}|~{3,})[^\n]*\n.*?(?:^[ \t]*(?P=fence)[ \t]*$|\Z)", re.M | re.S)


def without_indented_code(text: str) -> str:
    """The text minus indented code blocks: in each block of lines (blocks are separated by
    blank lines), the leading lines indented by 4 spaces or a tab are code, as Python-Markdown's
    CodeBlockProcessor (which Zulip uses) renders them; no mention counts there."""
    blocks = []
    for block in re.split(r"\n[ \t]*\n", text):
        lines = block.split("\n")
        i = 0
        while i < len(lines) and (lines[i].startswith("    ") or lines[i].startswith("\t")):
            i += 1
        blocks.append("\n".join(lines[i:]))
    return "\n\n".join(blocks)


def without_quotes(content: str) -> str:
    """The message minus quoted, fenced and indented code blocks: a command (or a mention of
    the bot) inside a quote of an earlier message is not a new command, and neither is the
    silent mention in the header of a quote of one of the bot's own messages, nor a mention in
    a code block (Zulip renders none there)."""
    text = without_indented_code(FENCE_RE.sub("", QUOTE_HEADER_RE.sub("", content)))
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith(">")).strip()


def command_in(content: str, require_mention: bool, is_me, flags: list[str] | None = None) -> str | None:
    """The command in a message: the text after the bot's mention (``is_me(id, name)`` says
    which mention is the bot's), or before it if the mention ends the message; None when a
    mention is required and missing. Quoted and fenced blocks are ignored, and so is a mention in
    inline code. A mention inside a sentence ("thanks @**Agenda Bot**") is talk about the bot,
    not a command, unless a command word follows. ``flags`` (the message's, from the server): a
    mention ``@**…**`` counts only if Zulip rendered it as one (the ``mentioned`` flag), so one in
    code, or written with a name that is not the bot's current one, is not (silent mentions
    ``@_**…**`` set no flag and are judged by the text alone)."""
    content = without_quotes(content)
    code = [c.span() for c in CODE_SPAN_RE.finditer(content)]
    for m in MENTION_RE.finditer(content):
        if any(start <= m.start() < end for start, end in code):
            continue  # "type `@**Agenda Bot** agenda add TEXT`" explains, it does not ask
        if is_me(m.group("id"), m.group("name")):
            loud = not m.group(0).startswith("@_")
            if require_mention and loud and flags is not None and "mentioned" not in flags:
                return None  # Zulip did not render it as a mention of the bot
            before, after = content[: m.start()].strip(), content[m.end() :].strip()
            text = re.sub(r"^[:,]\s*", "", after or before).strip()
            if require_mention and before and not looks_like_command(text):
                return None
            return text
    if require_mention:
        return None
    return re.sub(r"^[:,]\s*", "", content.strip()).strip()


AGENDA_ADD_RE = re.compile(r"^/?agenda\s+add\b", re.I)


@dataclass(frozen=True)
class ServerLimits:
    """What the server keeps, in Unicode code points (Python's ``len``): the ``max_message_length``
    and ``max_topic_length`` of ``POST /register`` (its realm data). Longer content or topics are
    not refused but cut by the server, so the bot must know them."""

    message: int = MAX_CONTENT
    topic: int = MAX_TOPIC

    @classmethod
    def from_register(cls, res: dict[str, Any]) -> ServerLimits:
        def positive(key: str, default: int) -> int:
            value = res.get(key)
            ok = isinstance(value, int) and not isinstance(value, bool) and value > 0
            return value if ok else default  # type: ignore[return-value]

        return cls(positive("max_message_length", MAX_CONTENT), positive("max_topic_length", MAX_TOPIC))

    def __str__(self) -> str:
        return f"messages up to {self.message} characters, topics up to {self.topic}"


def multi_line_refusal(content: str, text: str) -> str | None:
    """For ``agenda add``: why the message cannot be one agenda item (an item is one line), or
    None. A code block, quote or spoiler after the text, or more than one line of text: nothing
    is added rather than one line kept and the rest dropped or run together."""
    lost = blocks_after(content, text)
    if lost:
        return (
            f"an agenda item is one line of text, and your message has a {lost} after it that the item "
            f"cannot hold; nothing was added. Send the item as one line and link to the details, e.g. "
            f"`agenda add Release plans (see https://…)`."
        )
    m = AGENDA_ADD_RE.match(text)
    lines = [line for line in text[m.end() :].splitlines() if line.strip()] if m else []
    if len(lines) > 1:
        return (
            f"an agenda item is one line of text, and your message has {len(lines)} lines after "
            f"`agenda add`; nothing was added. Send each item as its own message (`agenda add …`), "
            f"and an item that is one thought as one line."
        )
    return None


def blocks_after(content: str, text: str) -> str | None:
    """For ``agenda add``: the kind of block (code block, quote, spoiler) that follows the
    item's text in the message and would be lost from the one-line item; None if none."""
    if not AGENDA_ADD_RE.match(text):
        return None
    first = text.split("\n", 1)[0].strip()
    pos = content.find(first)
    if pos < 0:
        return None
    rest = content[pos + len(first) :]
    for fence in FENCE_RE.finditer(rest):
        words = fence.group(0).split("\n", 1)[0].strip().lstrip("`~").split()
        kind = words[0].lower() if words else ""
        return {"spoiler": "spoiler", "quote": "quote"}.get(kind, "code block")
    if any(line.lstrip().startswith(">") for line in rest.splitlines()):
        return "quote"
    if without_indented_code(rest) != rest:
        return "code block"
    return None


def split_content(text: str, limit: int = MAX_CONTENT) -> list[str]:
    """A long answer as several messages, each at most ``limit`` characters (what Zulip keeps:
    it cuts longer ones), split between lines; a single longer line is split after a space
    (or, with none, anywhere). Nothing is dropped: joined with newlines, the parts are the text.
    (A part that is only blank lines, which Zulip refuses as empty, is not sent: see send_long.)"""
    return split_long(text, limit)


def is_check(event: dict[str, Any]) -> bool:
    """Whether a reaction event's emoji is one of the check marks that tick an item."""
    if event.get("reaction_type", "unicode_emoji") == "unicode_emoji" and event.get("emoji_code") in CHECK_CODES:
        return True
    return str(event.get("emoji_name") or "").lower() in CHECK_NAMES


def conversation_key(target: dict[str, Any], stream: str | None = None) -> str:
    """Where a message went, as the listings table names it: ``zulip:dm:a@x.org,b@y.org``, or
    ``zulip:stream:NAME:TOPIC`` for a stream message (``stream``: its name; names and topics
    are case-insensitive in Zulip)."""
    if target.get("type") == "private":
        to = target.get("to") or []
        return "zulip:dm:" + ",".join(sorted(str(t).lower() for t in to))
    return f"zulip:stream:{(stream or str(target.get('to'))).lower()}:{str(target.get('topic', '')).lower()}"


# ---------------------------------------------------------------------------------------
