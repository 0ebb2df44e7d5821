"""AI drafts in Slack (issue 26, docs/ai-drafts.md): what happens after the ack.

A request answers at once with what it always did (the fact-only catch-up, the empty form).
When a draft is `wanted` (drafts on, the incident not private or private ones allowed, the
model not just found unreachable), decided without I/O from data the request's own
transaction read anyway, the ack leaves a request here in Bolt's context (`REQUEST`) for its
lazy listener, which:
1. reads the incident's entries in one short transaction and closes it;
2. looks up the names the prompt needs (users.info, cached);
3. asks the model (bot.drafting: the prompt, the call, the grounding check; up to
   SCRIBE_AI_TIMEOUT_SECONDS), with no transaction open;
4. shows what survived the check: the catch-up is replaced through its response_url with
   the suggestion above the same facts; a form gets the draft with views.update, made with
   the hash views.open returned (bot.slack.blocks.drafts says why a typed field is safe).
No draft (drafts refused, the model failed, nothing survived the check): the catch-up is
left as it is; a form only loses its "Drafting…" note. Nothing here posts anything as fact.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from slack_bolt import BoltContext, Respond
from slack_sdk import WebClient
from sqlalchemy.orm import Session

from bot.commands import MAX_UPDATE_LENGTH
from bot.config import Settings
from bot.drafting import Draft, draft_catch_up, draft_postmortem_fields, draft_status_update, may_send, model_available, render_plain
from bot.links import incident_url
from bot.models import Incident, Postmortem
from bot.services import catchup
from bot.services.drafting import DraftSource, draft_source
from bot.services.people import names_of
from bot.slack.blocks import catchup as catchup_blocks
from bot.slack.blocks import drafts as blocks
from bot.slack.blocks.postmortem import MAX_INPUT_LENGTH
from bot.slack.io import views
from bot.slack.scribe import Scribe

log = logging.getLogger(__name__)

# Where an ack leaves what to draft, for its lazy listener (Bolt copies the context to it).
REQUEST = "ai_draft_request"

T = TypeVar("T")


def wanted(settings: Settings, *, private: bool) -> bool:
    """Whether a request about an incident starts a draft: drafts are on, the incident's
    entries may be sent, and the model wasn't just found unreachable. No I/O: a request that
    starts none does nothing more than before drafts existed."""
    return may_send(settings, private=private) and model_available(settings)


def lazy_wanted(settings: Settings) -> bool:
    """For Bolt matchers: whether a listener needs its lazy part at all (see `wanted`)."""
    return model_available(settings)


def on(context: BoltContext) -> bool:
    """Bolt matcher for a listener whose lazy part only drafts: skip that part when drafts are off."""
    scribe: Scribe = context["scribe"]
    return lazy_wanted(scribe.settings)


def fill_opened_form(client: WebClient, context: BoltContext, scribe: Scribe) -> None:
    """The lazy part of a listener that opened a form: the drafts its ack asked for (REQUEST).
    Not wrapped in reports_failure: the person has their form; follow_up logs its own failures."""
    request = context.get(REQUEST)
    if request is not None:
        follow_up(scribe, client, None, request, team_id=context.team_id or "")


@dataclass(frozen=True)
class CatchUpDraft:
    """Draft "what is going on" for the catch-up just answered, and replace it."""

    incident_id: int


@dataclass(frozen=True)
class FormDraft:
    """Put drafts into a form just opened: the status update form (`summary`) or the
    postmortem's Edit form (its still-empty `fields`)."""

    form: str  # "update" or "postmortem"
    incident_id: int
    fields: tuple[str, ...] = ()
    view: dict[str, Any] = field(default_factory=dict)  # the form as opened
    view_id: str = ""
    view_hash: str = ""

    def opened(self, view: dict[str, Any], answer: dict[str, Any]) -> FormDraft:
        """This request for the form `view`, as views.open answered it (its id and hash)."""
        return replace(self, view=view, view_id=str(answer.get("id") or ""), view_hash=str(answer.get("hash") or ""))


def follow_up(scribe: Scribe, client: WebClient, respond: Respond | None, request: Any, *, team_id: str) -> None:
    """Carry out what an ack left in `REQUEST` (after the ack, on a lazy listener). It never
    fails the person's action: they already have their answer, so a failure is logged only."""
    try:
        if isinstance(request, CatchUpDraft) and respond is not None:
            send_catch_up_draft(scribe, respond, request, team_id=team_id)
        elif isinstance(request, FormDraft) and request.view_id:
            fill_form(scribe, client, request, team_id=team_id)
    except Exception as error:  # after the ack, with the fact-only answer given: log, don't tell
        log.error("AI draft for incident %s failed after the ack: %s", getattr(request, "incident_id", "?"),
                  type(error).__name__, exc_info=error)


def _read(scribe: Scribe, incident_id: int, team_id: str, more: Callable[[Session, Incident], T]) -> tuple[DraftSource, T] | None:
    """The draft's entries (and `more`) in one short transaction; None when the incident is
    gone, another team's, or may not be sent after all."""
    with scribe.transaction() as session:
        incident = session.get(Incident, incident_id)
        if incident is None or incident.team_id != team_id or not may_send(scribe.settings, private=incident.is_private):
            return None
        return draft_source(session, incident), more(session, incident)


def _names(scribe: Scribe, source: DraftSource) -> dict[str, str]:
    return names_of(scribe.people.people(source.team_id, source.people_wanted()))


def _link_for(scribe: Scribe, source: DraftSource) -> Callable[[int], str | None]:
    entries = source.by_id()
    page = incident_url(scribe.settings, source.ref)
    return lambda entry_id: blocks.citation_link(entries.get(entry_id), channel_id=source.channel_id, page=page)


def catch_up_with_draft(scribe: Scribe, incident_id: int, *, team_id: str) -> tuple[str, list[dict[str, Any]]] | None:
    """The catch-up with a checked "what is going on" above its facts; None without a draft.
    The facts are read again once there is a draft (the newest ones, and no work for a
    draft that never came)."""
    read = _read(scribe, incident_id, team_id, lambda session, incident: None)
    if read is None:
        return None
    source = read[0]
    names = _names(scribe, source)
    draft = draft_catch_up(source.recorded(names), settings=scribe.settings, incident_id=source.incident_id,
                           private=source.private, user_name=names.get)
    if draft is None:
        return None
    suggestion = blocks.catch_up_suggestion(draft, model=scribe.settings.ai_model or "", link_for=_link_for(scribe, source))
    with scribe.transaction() as session:
        incident = session.get(Incident, incident_id)
        facts = catchup.catch_up(session, incident, now=scribe.now()) if incident is not None and suggestion else None
    if facts is None:
        return None
    return catchup_blocks.catch_up_message(facts, command=scribe.settings.command, suggestion=suggestion)


def send_catch_up_draft(scribe: Scribe, respond: Respond, request: CatchUpDraft, *, team_id: str) -> None:
    message = catch_up_with_draft(scribe, request.incident_id, team_id=team_id)
    if message is not None:
        text, message_blocks = message
        respond(response_type="ephemeral", replace_original=True, text=text, blocks=message_blocks)


def _note(scribe: Scribe, draft: Draft, shown: str, source: DraftSource, names: dict[str, str], how_to_use: str) -> str:
    legend = blocks.legend(draft, shown, source.by_id(), names=names, tz=scribe.settings.timezone)
    return blocks.draft_note(scribe.settings.ai_model or "", legend, how_to_use=how_to_use)


def fill_form(scribe: Scribe, client: WebClient, request: FormDraft, *, team_id: str) -> str:
    """Put the drafts into the form; what became of it ("updated", "stale": the person is
    writing, "gone": the form was closed or sent, "failed")."""
    if request.form == "update":
        view = _update_form_with_draft(scribe, request, team_id)
    else:
        view = _postmortem_form_with_drafts(scribe, request, team_id)
    outcome = views.update_modal(client, view_id=request.view_id, view_hash=request.view_hash, view=view)
    if outcome != "updated":
        log.info("AI draft for the %s form of incident %d not put in: the form is %s", request.form, request.incident_id,
                 {"stale": "being written in", "gone": "closed"}.get(outcome, "unreachable"))
    return outcome


def _update_form_with_draft(scribe: Scribe, request: FormDraft, team_id: str) -> dict[str, Any]:
    read = _read(scribe, request.incident_id, team_id, lambda session, incident: incident.closed_at is None)
    if read is None or not read[1]:
        return blocks.without_pending(request.view)
    source = read[0]
    names = _names(scribe, source)
    draft = draft_status_update(source.recorded(names), settings=scribe.settings, incident_id=source.incident_id,
                                private=source.private, since=source.last_update_at, user_name=names.get)
    if draft is None:
        return blocks.without_pending(request.view)
    text = render_plain(draft, max_chars=MAX_UPDATE_LENGTH)
    note = _note(scribe, draft, text, source, names,
                 "Edit it or replace it: nothing is posted until you press *Post*.")
    return blocks.without_pending(blocks.with_draft(request.view, "summary", text, note))


def _postmortem_form_with_drafts(scribe: Scribe, request: FormDraft, team_id: str) -> dict[str, Any]:
    def still_empty(session: Session, incident: Incident) -> list[str]:
        # Written by people meanwhile (saved from another Edit form): left alone.
        saved = session.get(Postmortem, incident.id)
        return [f for f in request.fields if not (saved is not None and (getattr(saved, f) or "").strip())]

    read = _read(scribe, request.incident_id, team_id, still_empty)
    if read is None or not read[1]:
        return blocks.without_pending(request.view)
    source, empty = read
    names = _names(scribe, source)
    drafts = draft_postmortem_fields(source.recorded(names), settings=scribe.settings, incident_id=source.incident_id,
                                     private=source.private, user_name=names.get)
    view = request.view
    for name in empty:
        draft = drafts.get(name)
        if draft is None:
            continue
        text = render_plain(draft, max_chars=MAX_INPUT_LENGTH)
        note = _note(scribe, draft, text, source, names,
                     "A draft until you press *Save*: edit it, replace it, or clear it.")
        view = blocks.with_draft(view, name, text, note)
    return blocks.without_pending(view)
