"""Slash commands: which names are ours (``[slack] command``, ``next_command``,
``actions_command``; asked per command, a reloaded config may rename them), the text the core
gets, and a command's work after its ack: run it, answer privately through its
``response_url`` (with buttons on an action-item list), queue its public note."""

from __future__ import annotations

import logging

from ...inbox import Incoming
from .events import readable_text
from .part import Part
from .render import MAX_RESPONSES, escape

log = logging.getLogger("chatbot.backends.slack")

LISTS = (("actions",), ("actions", "mine"))  # the commands whose answer a click lists again


class SlackCommands(Part):
    """The slash commands' names and the bolt listeners that answer them."""

    def commands(self) -> dict[str, str]:
        """Slash command name -> the core command it runs."""
        s = self.settings
        out: dict[str, str] = {}
        for name, core in ((s.command, "agenda"), (s.next_command, "next"), (s.actions_command, "actions")):
            name = (name or "").strip()
            if name:
                out.setdefault(name if name.startswith("/") else "/" + name, core)
        return out

    def command_text(self, command: str, text: str) -> str:
        """What the bot core gets for a slash command: '/agenda add x' -> 'agenda add x'."""
        core = self.commands().get(command, "agenda")
        if core == "next":
            return "next"
        return f"{core} {(text or '').strip()}".strip()

    def spelled(self) -> dict[str, str]:
        """Core command -> the slash command that runs it (how answers spell commands)."""
        return {core: slash for slash, core in reversed(list(self.commands().items()))}

    def is_ours(self, command: dict) -> bool:
        return (command.get("command") or "") in self.commands()

    def on_unknown_command(self, ack, command: dict) -> None:
        """A slash command the app's manifest has but the config does not name (renamed in
        one place only): answer, rather than let Slack show the user "dispatch_failed"."""
        name = command.get("command") or "?"
        log.warning("Slack sent %s, which [slack] command/next_command/actions_command do not name", name)
        known = ", ".join(sorted(self.commands()))
        ack(
            text=f":warning: this bot does not handle {escape(name)}; it answers {escape(known)}. "
            "(For the admin: the slash command names in the Slack app and in the bot's [slack] "
            "settings differ.)",
            response_type="ephemeral",
        )

    def on_command(self, command: dict, respond) -> None:
        """A slash command's work, after Slack has its ack (bolt lazy listener)."""
        try:
            self._work_on(command, respond)
        except Exception as exc:  # bolt would log only a one-liner; the bot keeps running
            log.error(
                "Slack command %s failed: %s: %s", command.get("command") or "?", type(exc).__name__, exc, exc_info=True
            )
            try:
                respond(text=":warning: something went wrong on the bot's side; see its log", response_type="ephemeral")
            except Exception:
                pass

    def _work_on(self, command: dict, respond) -> None:
        name = command.get("command") or ""
        user_id = command.get("user_id")
        channel = command.get("channel_id")
        meeting_id = self.backend.meeting_for(channel)
        allow = self.settings.allow_unknown_users
        # direct-message channels (D…) are always allowed; others may be limited by
        # [bot] allowed_places
        place = channel if channel and not channel.startswith("D") else None
        people = self.backend.people
        names: dict[str, str | None] = {}  # each person looked up once per command
        sender = people.sender(user_id, command.get("user_name"), names)
        typed = readable_text(command.get("text") or "", lambda uid, label: people.user_label(uid, label, names))
        core_text = self.command_text(name, typed)
        answer = self.backend.inbox.take(
            Incoming(core_text, sender, meeting_id, place, allow_unknown=allow, spelled=self.spelled())
        )
        message = answer.message
        log.info("slack %s from %s in %s: %s", name, user_id, channel, answer.kind)
        prefix = "" if message.ok else ":warning: "
        # an action-item list gets buttons; after a click the list is shown again (it is
        # ephemeral: Slack does not send it back with the click)
        listing = core_text if answer.command in LISTS else None
        poster = self.backend.poster
        try:
            parts = poster.render_parts(message, prefix, most=MAX_RESPONSES)
            blocks = poster.blocks(message, meeting_id, prefix, listing) if len(parts) == 1 else {}
            for text in parts:
                resp = respond(text=text, response_type="ephemeral", **blocks)
                status = getattr(resp, "status_code", 200)
                if status >= 300:
                    log.error("Slack response_url answered HTTP %s for %s", status, name)
        except Exception as exc:  # the answer is lost, but the bot keeps running
            log.error("Slack response_url failed for %s: %s", name, exc)
        poster.public_note(message, meeting_id, channel)
