"""Who asked: the person behind a command, and what they may do.

Backends resolve a platform user to a roster :class:`~chatbot.config.Person` (or none) before
dispatch and hand the core a :class:`Sender`; the core never looks at platform fields.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .config import Config, Person
from .messages import Message, Segment, error


class Refused(Exception):
    """A command was refused; ``message`` tells the person why. Raised anywhere below
    dispatch and answered there."""

    def __init__(self, text: str, *more: Segment | str):
        super().__init__(text)
        self.message: Message = error(text, *more)


@dataclass(frozen=True)
class Sender:
    """Who typed a command, as the backend resolved them.

    ``person`` is the roster entry the backend found for the platform user (None: not in the
    roster); ``initials`` are typed by hand (CLI ``--as``, the console's user) instead;
    ``id_field`` and ``user_id`` name the roster key that would identify them, for the answer
    to someone the bot does not know (the platform's ``person_field``: ``ID_FIELD = "USER_ID"``)."""

    platform: str  # for logs
    user_id: str | None = None
    name: str | None = None
    initials: str | None = None
    person: Person | None = None
    id_field: str = "initials"


@dataclass
class Identity:
    initials: str
    person: Person | None


_INITIALS = re.compile(r"[A-Za-z][A-Za-z0-9]{0,7}")  # as Person.initials in the config


def initials_from_name(name: str) -> str:
    words = [w for w in re.split(r"[\s._-]+", name) if w and w[0].isalpha()]
    ini = "".join(w[0].upper() for w in words[:4])
    return ini if len(ini) >= 2 else (name[:3].upper() if name else "??")


def identify(config: Config, sender: Sender, allow_unknown: bool = False) -> Identity:
    """The sender's initials and roster entry; raises Refused for someone the bot does not
    know (unless ``allow_unknown``: then initials are made from their display name)."""
    if sender.initials:
        # typed by hand (--as, [console] user): they start the item line, so they must
        # be initials as the roster has them, not text that changes the notes' structure
        initials = sender.initials.strip()
        if not _INITIALS.fullmatch(initials):
            raise Refused(
                f"{initials!r} are not initials: use 1 to 8 letters and digits, starting with a letter, e.g. JRG"
            )
        person = sender.person or config.person_by(initials=initials)
        return Identity(person.initials if person else initials.upper(), person)
    if sender.person:
        return Identity(sender.person.initials, sender.person)
    if allow_unknown and sender.name:
        return Identity(initials_from_name(sender.name), None)
    # the file's name, not its path on the bot's machine: that is no chat user's business
    where = config.path.name if config.path else "the config file"
    raise Refused(
        f"I don't know who you are ({sender.user_id or sender.name or 'no id'}). "
        f"Ask a maintainer to add you to the roster in {where}: a [[people]] entry with "
        f'initials, name and {sender.id_field} = "{sender.user_id or "…"}".'
    )


def may_edit(config: Config, who: Identity, owners: list[str]) -> bool:
    """Admins always; with ``[bot] editors`` set, only those people; else the owners."""
    if who.person and who.person.admin:
        return True
    editors = [e.upper() for e in config.bot.editors]
    if editors:
        return who.initials.upper() in editors
    return who.initials.upper() in owners
