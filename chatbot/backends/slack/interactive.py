"""Block Kit interactions: the **Done** / **Next meeting** buttons on action items (the clicked
message updated in place), the **Add agenda item** button and its modal (``views.open``; the
submission answered in its ack, or later through ``views.update`` when the notes are busy)."""

from __future__ import annotations

import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from ...config import Meeting, UnknownMeeting
from ...inbox import Incoming
from ...messages import Message, Text, UserText, error, render_plain
from ..base import BackendError
from .part import Part, json_object, run_click
from .render import (
    ACTION_DONE,
    AGENDA_BLOCK,
    AGENDA_INPUT,
    AGENDA_VIEW,
    FORM_SECONDS,
    MAX_BLOCKS,
    MAX_INPUT,
    _context,
    _cut_to,
    _form_view,
    blocks_text,
    escape,
    mark_item,
    render_blocks,
    safe_text,
)
from .review import on_review_button
from .wire import WORK_THREADS

log = logging.getLogger("chatbot.backends.slack")

FAILED = ":warning: something went wrong on the bot's side; see its log"


class SlackInteractions(Part):
    """The bolt listeners of buttons and the agenda modal, and the pool its submissions run on."""

    def __init__(self, backend) -> None:
        super().__init__(backend)
        self._forms: ThreadPoolExecutor | None = None  # agenda form submissions (see on_agenda_view)
        self._forms_lock = threading.Lock()

    # -- Done / Next meeting ----------------------------------------------------------

    def on_item_button(self, body: dict, action: dict, respond) -> None:
        """Done / Next meeting on an action item (bolt lazy listener, after the ack)."""
        try:
            self._item_button(body, action, respond)
        except Exception as exc:  # the bot keeps running; the person is told
            log.error("Slack button %s failed: %s: %s", action.get("action_id"), type(exc).__name__, exc, exc_info=True)
            try:
                respond(text=FAILED, response_type="ephemeral", replace_original=False)
            except Exception:
                pass

    def on_review_button(self, body: dict, action: dict, respond) -> None:
        """Track / Not an action item on the chair's review (``review.on_review_button``)."""
        on_review_button(self.backend, body, action, respond)

    def _item_button(self, body: dict, action: dict, respond) -> None:
        done = action.get("action_id") == ACTION_DONE
        words = ("actions", "done-item" if done else "carry")
        click = run_click(self.backend, body, action, words, "actions", "button", respond)
        if click is None:
            return
        value, sender, by, message = click
        meeting_id, listing = value.get("m") or None, value.get("l")
        container = body.get("container") or {}
        head = message.lines[0][0] if message.lines and message.lines[0] else Text("Done")
        what = head.text.strip().rstrip(":") if isinstance(head, Text) else "Done"
        mark = "✅" if done else "➡️"
        item_text = "".join(s.text for s in message.lines[0][1:] if isinstance(s, (Text, UserText)))
        warned = "".join(f"\n⚠ {safe_text(w)}" for w in message.warnings)
        note = f"{mark} {safe_text(what)} — by {by}{warned}"
        original = body.get("message") or {}
        blocks = None
        if isinstance(original.get("blocks"), list):
            blocks = mark_item(original["blocks"], str(action.get("block_id") or ""), note)
        if blocks is None and listing:  # an ephemeral /actions answer: the list again, as it is now
            again = self.backend.inbox.take(
                Incoming(
                    listing,
                    sender,
                    meeting_id,
                    allow_unknown=self.settings.allow_unknown_users,
                    spelled=self.backend.slash.spelled(),
                )
            ).message
            said = f"{mark} {safe_text(what)}: {safe_text(item_text)} — by {by}{warned}"
            blocks = [_context(said)] + render_blocks(again, meeting_id, listing=listing, max_blocks=MAX_BLOCKS - 1)
        if blocks is None:  # nothing to update in place: say it in a message of its own
            respond(text=self.backend.render(message), response_type="ephemeral", replace_original=False)
        else:
            self.replace(body, container, respond, blocks)
        self.backend.poster.public_note(message, meeting_id, container.get("channel_id"))

    def replace(self, body: dict, container: dict, respond, blocks: list[dict[str, Any]]) -> None:
        """Update the clicked message in place: through the click's ``response_url`` (works for
        ephemeral messages too), else ``chat.update`` (messages the bot posted)."""
        text = blocks_text(blocks)
        if body.get("response_url"):
            try:
                resp = respond(text=text, blocks=blocks, replace_original=True)
                if getattr(resp, "status_code", 200) < 300:
                    return
                log.error("Slack response_url answered HTTP %s to a message update", resp.status_code)
            except Exception as exc:
                log.error("Slack response_url failed to update a message: %s", exc)
        channel, ts = container.get("channel_id"), container.get("message_ts")
        if channel and ts and not container.get("is_ephemeral"):
            try:
                self.call("chat.update", channel=channel, ts=ts, text=text, blocks=blocks)
            except BackendError:
                pass  # logged by call()

    # -- Add agenda item --------------------------------------------------------------

    def agenda_view(self, meeting: Meeting, channel: str | None) -> dict[str, Any]:
        """The "Add agenda item" modal: one text field; the meeting goes in private_metadata."""
        try:
            when = f" on {self.bot.next_meeting(meeting).date.isoformat()}"
        except Exception:
            when = ""
        label = f"Agenda item for {meeting.name}{when}"
        return {
            "type": "modal",
            "callback_id": AGENDA_VIEW,
            "title": {"type": "plain_text", "text": "Add agenda item"},
            "submit": {"type": "plain_text", "text": "Add"},
            "close": {"type": "plain_text", "text": "Cancel"},
            "private_metadata": json.dumps({"m": meeting.id, "c": channel or ""}, separators=(",", ":")),
            "blocks": [
                {
                    "type": "input",
                    "block_id": AGENDA_BLOCK,
                    "label": {"type": "plain_text", "text": label[:2000]},
                    "element": {
                        "type": "plain_text_input",
                        "action_id": AGENDA_INPUT,
                        "max_length": min(MAX_INPUT, self.bot.config.bot.max_item_length),
                        "placeholder": {"type": "plain_text", "text": "What should the meeting discuss?"},
                    },
                }
            ],
        }

    def on_add_button(self, ack, body: dict, action: dict, respond) -> None:
        """Add agenda item: open the modal now (the click's trigger_id is valid 3 seconds)."""
        ack()
        try:
            value = json.loads(action.get("value") or "{}")
            meeting = self.bot.config.meeting(value.get("m") if isinstance(value, dict) else None)
        except (ValueError, UnknownMeeting) as exc:
            respond(text=f":warning: {escape(str(exc))}", response_type="ephemeral", replace_original=False)
            return
        channel = (body.get("container") or {}).get("channel_id") or (body.get("channel") or {}).get("id")
        try:
            self.call("views.open", trigger_id=body.get("trigger_id"), view=self.agenda_view(meeting, channel))
        except BackendError:
            agenda = next((slash for slash, core in self.backend.commands().items() if core == "agenda"), "/agenda")
            respond(
                text=f":warning: the form could not be opened; type `{escape(agenda)} add TEXT` instead",
                response_type="ephemeral",
                replace_original=False,
            )

    def on_agenda_view(self, ack, body: dict, view: dict) -> None:
        """The modal's submission: the same as ``/agenda add TEXT``; a refusal is shown in the
        modal (``response_action: errors``), success replaces it with the answer."""
        meta = json_object(view.get("private_metadata"))
        values = ((view.get("state") or {}).get("values") or {}).get(AGENDA_BLOCK) or {}
        text = str((values.get(AGENDA_INPUT) or {}).get("value") or "")
        user = body.get("user") or {}

        def add() -> Message:
            return self._add_item(text, user, meta)

        with self._forms_lock:
            if self._forms is None:
                self._forms = ThreadPoolExecutor(max_workers=WORK_THREADS, thread_name_prefix="slack-form")
            work = self._forms.submit(add)
        try:
            message = work.result(timeout=FORM_SECONDS)
        except FutureTimeout:
            # Slack shows its own error after 3 seconds, and the person would submit again (a
            # second item): answer now, show the result when the edit is done (views.update)
            ack(
                response_action="update",
                view=_form_view("Adding your item… the notes are busy; this form shows the result in a moment."),
            )
            view_id = str(view.get("id") or "")
            work.add_done_callback(lambda done: self._form_done(done, view_id))
            return
        except Exception as exc:
            log.error("Slack agenda form failed: %s: %s", type(exc).__name__, exc, exc_info=True)
            message = error("something went wrong on the bot's side; see its log")
        if not message.ok:
            ack(response_action="errors", errors={AGENDA_BLOCK: _cut_to(render_plain(message), 2000)})
            return
        ack(response_action="update", view=_form_view(self.backend.render(message)))

    def _add_item(self, text: str, user: dict, meta: dict) -> Message:
        """A submitted form's work (on the forms pool): ``agenda add TEXT``, and its channel note."""
        answer = self.backend.inbox.take(
            Incoming(
                f"agenda add {text}",
                self.backend.people.sender(user.get("id"), user.get("username") or user.get("name")),
                meta.get("m") or None,
                allow_unknown=self.settings.allow_unknown_users,
                spelled=self.backend.slash.spelled(),
            )
        )
        message = answer.message
        log.info("slack agenda form from %s: %s", user.get("id"), answer.kind)
        if message.ok:
            self.backend.poster.public_note(message, meta.get("m") or None, meta.get("c") or None)  # (queued)
        return message

    def _form_done(self, done: Any, view_id: str) -> None:
        """A form answered "adding…": its result, into the modal (if still open)."""
        try:
            message = done.result()
        except Exception as exc:
            log.error("Slack agenda form failed: %s: %s", type(exc).__name__, exc, exc_info=True)
            message = error("something went wrong on the bot's side; see its log")
        shown = self.backend.render(message, "" if message.ok else ":warning: ")
        try:
            self.call("views.update", view_id=view_id, view=_form_view(shown))
        except BackendError:  # logged by call(); e.g. the person closed the form
            pass

    def close(self) -> None:
        """Submitted agenda forms finish (their channel notes queue on the poster)."""
        with self._forms_lock:
            forms, self._forms = self._forms, None
        if forms is not None:
            forms.shutdown(wait=True)
