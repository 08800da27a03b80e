"""The runner's view of a chat platform, for tests: it records what it is asked to send."""

from __future__ import annotations

from chatbot.messages import render_plain


class RecordingBackend:
    """``posts``: the first line of each channel post; ``dms``: the initials of each person
    told directly; ``sent``: (``"channel"`` or the initials, the whole text) in order."""

    def __init__(self, name: str = "console"):
        self.name = name
        self.posts: list[str] = []
        self.dms: list[str] = []
        self.sent: list[tuple[str, str]] = []

    def wants(self, meeting) -> bool:
        return True

    def render(self, message) -> str:
        return render_plain(message)

    def post(self, meeting, message) -> None:
        text = render_plain(message)
        self.posts.append(text.splitlines()[0] if text else "")
        self.sent.append(("channel", text))

    def notify(self, meeting, person, message) -> None:
        self.dms.append(person.initials)
        self.sent.append((person.initials, render_plain(message)))
