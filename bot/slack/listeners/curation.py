"""Curating the timeline by clicking: the "Add to timeline" message shortcut, and the menu
on each entry of `/incident timeline` (Edit, Hide from the postmortem / Show again, Delete).

Forms are opened within the click's 3-second trigger_id, so that work is done before the
ack returns; saves answer the form itself (`response_action: errors` under the field that
is wrong), and the channel hears about a correction afterwards, in a lazy listener.
"""

from __future__ import annotations

import logging
from typing import Any
from zoneinfo import ZoneInfo

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient

from bot.models import TimelineEntry
from bot.postmortem.context import compute_metrics
from bot.services import curation, people
from bot.services.errors import ScribeError
from bot.services.export import incident_facts
from bot.slack.blocks import curation as cb
from bot.slack.io import messages, views
from bot.slack.lazy import reports_failure
from bot.slack.payloads import captured_message
from bot.slack.scribe import Scribe
from bot.slack.subcommands import kind_label, safe
from bot.timefmt import format_duration

log = logging.getLogger(__name__)


def _private(respond: Respond, text: str) -> None:
    respond(response_type="ephemeral", replace_original=False, text=text)


def _metrics_line(entry: TimelineEntry) -> str:
    metrics = compute_metrics(incident_facts(entry.incident))
    parts = [f"{abbr} {format_duration(metrics[key])}" for key, abbr in
             (("time_to_detect_s", "TTD"), ("time_to_mitigate_s", "TTM"), ("time_to_resolve_s", "TTR")) if metrics[key] is not None]
    return f" (now {', '.join(parts)})" if parts else ""


def _zone(scribe: Scribe, client: WebClient, team_id: str, user_id: str) -> ZoneInfo:
    """The person's Slack time zone, asked before the transaction opens; else the configured one."""
    return people.zone_of(scribe.people_before_ack(client, team_id, {user_id}), user_id) or scribe.settings.timezone


# -- "Add to timeline" -------------------------------------------------------------------------


def add_to_timeline(ack: Ack, body: dict[str, Any], context: BoltContext, client: WebClient, respond: Respond, scribe: Scribe) -> None:
    ack()
    message = body.get("message") or {}
    channel_id = (body.get("channel") or {}).get("id") or ""
    user_id = (body.get("user") or {}).get("id") or ""
    if (context.bot_id and message.get("bot_id") == context.bot_id) or (context.bot_user_id and message.get("user") == context.bot_user_id):
        _private(respond, ":x: That's one of my own posts: it's already part of the record. Use it on the message people wrote instead.")
        return
    if not message.get("ts") or message.get("subtype") in ("tombstone", "message_deleted"):
        _private(respond, ":x: That message was deleted, so it can't be added to the timeline.")
        return
    try:
        zone = _zone(scribe, client, context.team_id or "", user_id)
        with scribe.transaction() as session:
            entry = curation.message_entry(session, team_id=context.team_id or "", message=captured_message(message, channel_id=channel_id),
                                           now=scribe.now(), command=scribe.settings.command)
            modal = cb.mark_modal(entry_id=entry.id, version=entry.version or 1, author=entry.author, text=entry.text or "",
                                  at=entry.at, zone=zone, kind=entry.key_kind)
    except ScribeError as error:
        _private(respond, f":x: {error}")
        return
    problem = views.open_modal(client, body["trigger_id"], modal)
    if problem:
        _private(respond, f":x: {problem}")


def mark_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any], context: BoltContext, scribe: Scribe) -> None:
    entry_id, version = cb.read_metadata(view)
    kind, text = cb.submitted_mark(view)
    try:
        if entry_id is None:
            raise curation.EntryGone("This form doesn't say which message it is for; use the shortcut on the message again.")
        with scribe.transaction() as session:
            curation.mark_message(session, entry_id=entry_id, version=version, team_id=context.team_id or "", kind=kind or "",
                                  text=text, user_id=body["user"]["id"], now=scribe.now(), command=scribe.settings.command)
    except curation.FieldError as error:
        # The form has no time field: a milestone out of order is explained under the kind.
        ack(response_action="errors", errors={error.field if error.field in ("kind", "text") else "kind": str(error)})
        return
    except ScribeError as error:
        ack(response_action="errors", errors={"kind": str(error)})
        return
    ack()


def announce_mark(body: dict[str, Any], view: dict[str, Any], client: WebClient, scribe: Scribe) -> None:
    entry_id, _ = cb.read_metadata(view)
    with scribe.transaction() as session:
        entry = session.get(TimelineEntry, entry_id) if entry_id is not None else None
        if entry is None or not entry.key_kind:
            return
        label = curation.MARK_LABELS[entry.key_kind]
        text = safe((entry.text or "").replace("\n", " "))[:300]
        extra = _metrics_line(entry) if entry.key_kind in curation.MOMENTS else ""
        channel, ts = entry.channel_id, entry.ts
    link = f"<https://slack.com/archives/{channel}/p{(ts or '').replace('.', '')}|message>"
    messages.try_post(client, channel, f":pushpin: <@{body['user']['id']}> added a {link} to the timeline as *{label}*: {text}{extra}")


# -- the menu on each entry ---------------------------------------------------------------------


def entry_menu(ack: Ack, body: dict[str, Any], action: dict[str, Any], context: BoltContext, client: WebClient, respond: Respond, scribe: Scribe) -> None:
    """Edit and Delete open their forms at once (the trigger lasts 3 s); Hide and Show change the entry here."""
    ack()
    parsed = cb.parse_menu_value(str((action.get("selected_option") or {}).get("value") or ""))
    user_id = body["user"]["id"]
    team_id = context.team_id or ""
    if parsed is None:
        _private(respond, ":x: I didn't understand that choice. Run `/incident timeline` again.")
        return
    choice, entry_id, version = parsed
    settings = scribe.settings
    try:
        if choice == "delete":
            # Asked first, in a form quoting the entry; the form's Delete does it (delete_submitted).
            zone = _zone(scribe, client, team_id, user_id)
            with scribe.transaction() as session:
                entry = curation.entry_for_change(session, entry_id=entry_id, version=None, team_id=team_id)
                curation.require_deletable(entry, user_id, rule=settings.privileged_actions)
                modal = cb.delete_modal(entry_id=entry.id, version=entry.version or 1, label=kind_label(entry.kind),
                                        author=entry.author, text=entry.text or "", at=entry.at, zone=zone)
            problem = views.open_modal(client, body["trigger_id"], modal)
            if problem:
                _private(respond, f":x: {problem}")
            return
        if choice == "edit":
            zone = _zone(scribe, client, team_id, user_id)
            with scribe.transaction() as session:
                entry = curation.entry_for_change(session, entry_id=entry_id, version=None, team_id=team_id)
                if not curation.may_correct(entry, user_id, rule=settings.privileged_actions):
                    raise ScribeError(f"Only {curation.who_may(entry)} can edit this entry.")
                kind = entry.key_kind if entry.kind == "message" and entry.key_kind else entry.kind
                modal = cb.edit_modal(entry_id=entry.id, version=entry.version or 1, label=kind_label(kind), author=entry.author,
                                      text=entry.text or "", at=entry.at, zone=zone, time_editable=entry.source == "command",
                                      text_optional=curation.moment_of(entry) is not None and entry.source == "command")
            problem = views.open_modal(client, body["trigger_id"], modal)
            if problem:
                _private(respond, f":x: {problem}")
            return
        with scribe.transaction() as session:
            outcome = curation.set_hidden(session, entry_id=entry_id, version=version, team_id=team_id, hidden=choice == "hide",
                                          user_id=user_id, rule=settings.privileged_actions, now=scribe.now())
            changed = session.get(TimelineEntry, entry_id)
            extra = _metrics_line(changed) if changed is not None and outcome.metrics_changed else ""
    except ScribeError as error:
        _private(respond, f":x: {error}")
        return
    _private(respond, f":white_check_mark: Entry {outcome.summary} ({outcome.incident_ref}){extra}.")


def delete_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any], context: BoltContext, scribe: Scribe) -> None:
    """The confirmation's Delete: the form turns into the outcome (there is no field to put an error under)."""
    entry_id, version = cb.read_metadata(view)
    try:
        if entry_id is None:
            raise curation.EntryGone("This form doesn't say which entry it is for; nothing was deleted. Choose Delete again from `/incident timeline`.")
        with scribe.transaction() as session:
            outcome = curation.delete_entry(session, entry_id=entry_id, version=version, team_id=context.team_id or "",
                                            user_id=body["user"]["id"], rule=scribe.settings.privileged_actions, now=scribe.now())
            entry = session.get(TimelineEntry, entry_id)
            extra = _metrics_line(entry) if entry is not None and outcome.metrics_changed else ""
    except ScribeError as error:
        ack(response_action="update", view=cb.notice_modal("Not deleted", f":x: {error}"))
        return
    ack(response_action="update", view=cb.notice_modal("Entry deleted", f":white_check_mark: Entry {outcome.summary} ({outcome.incident_ref}){extra}."))


def edit_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any], context: BoltContext, client: WebClient, scribe: Scribe) -> None:
    entry_id, version = cb.read_metadata(view)
    text, at_text = cb.submitted_edit(view)
    user_id = body["user"]["id"]
    try:
        if entry_id is None:
            raise curation.EntryGone("This form doesn't say which entry it is for; open it again from `/incident timeline`.")
        found = scribe.people_before_ack(client, context.team_id or "", {user_id})
        with scribe.transaction() as session:
            curation.edit_entry(session, entry_id=entry_id, version=version, team_id=context.team_id or "", text=text, at_text=at_text,
                                shown_at=cb.shown_time(view), user_id=user_id, user_tz=people.zone_of(found, user_id), default_tz=scribe.settings.timezone,
                                rule=scribe.settings.privileged_actions, now=scribe.now(), command=scribe.settings.command)
    except curation.FieldError as error:
        field = error.field if error.field == "text" or at_text is not None else "text"
        ack(response_action="errors", errors={field: str(error)})
        return
    except ScribeError as error:
        ack(response_action="errors", errors={"text": str(error)})
        return
    ack()


def announce_edit(body: dict[str, Any], view: dict[str, Any], client: WebClient, scribe: Scribe) -> None:
    """Corrections happen in the open: the channel hears what changed and the new metrics.
    A save that changed nothing (left as shown, or refused) left the version the form showed."""
    entry_id, version = cb.read_metadata(view)
    with scribe.transaction() as session:
        entry = session.get(TimelineEntry, entry_id) if entry_id is not None else None
        if entry is None or not entry.revisions or entry.version == version:
            return
        last = entry.revisions[-1].changed_at
        changed = [r for r in entry.revisions if r.changed_at == last and r.field in ("text", "at")]
        words = []
        for revision in changed:
            words.append(f"time from {revision.old_value} to {revision.new_value}" if revision.field == "at" else "text")
        kind = entry.key_kind if entry.kind == "message" and entry.key_kind else entry.kind
        extra = _metrics_line(entry) if curation.moment_of(entry) and any(r.field == "at" for r in changed) else ""
        channel, ref = entry.channel_id, entry.incident.ref
    if words:
        messages.try_post(client, channel, f":pencil2: <@{body['user']['id']}> corrected a *{kind_label(kind)}* entry of {ref}: {' and '.join(words)}{extra}.")


def register(app: App) -> None:
    app.message_shortcut(cb.SHORTCUT)(add_to_timeline)
    app.view(cb.MARK_VIEW)(ack=mark_submitted, lazy=[reports_failure(announce_mark)])
    app.action(cb.ENTRY_MENU)(entry_menu)
    app.view(cb.EDIT_VIEW)(ack=edit_submitted, lazy=[reports_failure(announce_edit)])
    app.view(cb.DELETE_VIEW)(delete_submitted)
