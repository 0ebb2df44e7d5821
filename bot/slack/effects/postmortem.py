"""Drafting a postmortem and putting it in the channel: summary message, canvas, Markdown file, chart.

The draft is made and stored when the row is prepared (people named from the users.info
cache, which whoever asked for the draft filled first) (its version is kept on the row, so a
process that takes over after a crash publishes that same version, not a new one). Each
Slack failure is worded for the person who asked and the rest of the publication still
goes ahead. The summary and the canvas are remembered as soon as they exist, so the next
regeneration edits them instead of posting twins; the file upload is remembered too, so a
take-over doesn't upload it twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy.orm import Session

from bot.db import transaction
from bot.models import Announcement, Incident, OutboxItem
from bot.outbox.relay import Outcome
from bot.postmortem import render_timeline_chart
from bot.services import announcements
from bot.services import postmortem as pm_service
from bot.slack.blocks.postmortem import DraftPointer, compact_summary_blocks, summary_blocks, summary_fallback_text
from bot.slack.effects.base import SlackHandler
from bot.slack.home_tab import refresh_if_opened
from bot.slack.io import messages
from bot.slack.io.replies import reply

log = logging.getLogger(__name__)

# conversations.canvases.create errors after which a standalone canvas tabbed in the
# channel is still worth a try (the channel already has its own canvas, or the plan
# doesn't allow channel canvases).
_TRY_STANDALONE_CANVAS = {"channel_canvas_already_exists", "team_tier_cannot_create_channel_canvases", "not_allowed", "restricted_action", "missing_scope"}
_MESSAGE_TOO_BIG = {"invalid_blocks", "msg_too_long", "invalid_blocks_format", "too_many_blocks"}
_MESSAGE_GONE = {"message_not_found", "cant_update_message", "edit_window_closed"}


@dataclass
class PublishReport:
    draft: pm_service.Draft
    summary_ts: str | None = None
    canvas_id: str | None = None
    files: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def text(self) -> str:
        """What the person who asked is told when something didn't go through."""
        head = f"Postmortem draft v{self.draft.version} of {self.draft.ref} is stored (template `{self.draft.template}`)"
        if not self.problems:
            return head + " and posted in this channel."
        return head + ", but:\n" + "\n".join(f"• {p}" for p in self.problems)


def slack_reason(error: Exception) -> str:
    if isinstance(error, SlackApiError):
        return str(error.response.get("error") or f"HTTP {error.response.status_code}")
    return type(error).__name__


def plain_words(what: str, error: Exception) -> str:
    reason = slack_reason(error)
    if reason == "ratelimited":
        return f"{what}: Slack is rate-limiting the app right now. Press *Regenerate* in a minute."
    if reason in {"not_in_channel", "channel_not_found"}:
        return f"{what}: I'm not a member of this channel. Type `/invite @Incident Scribe`, then press *Regenerate*."
    if reason.startswith("HTTP 5") or reason in {"internal_error", "fatal_error", "service_unavailable"}:
        return f"{what}: Slack had a server error ({reason}) even after retries. Press *Regenerate* to try again."
    if not isinstance(error, SlackApiError):
        return f"{what}: Slack could not be reached ({reason}). Press *Regenerate* to try again."
    return f"{what}: Slack answered `{reason}`."


@dataclass(frozen=True)
class Publication:
    row_id: int
    team_id: str
    draft: pm_service.Draft
    user_id: str
    reply_to: dict[str, str]
    always_reply: bool
    include_chart: bool
    uploaded: bool  # by an earlier try of this row (taken over after a crash)
    link_announcement: bool  # the announcement has no link to the draft yet


class PublishPostmortem(SlackHandler):
    lease = timedelta(minutes=10)
    max_attempts = 1  # problems are told to the person, who can press Regenerate

    def prepare(self, session: Session, row: OutboxItem, *, now: datetime) -> Publication | None:
        incident = session.get(Incident, row.incident_id)
        if incident is None:
            return None
        payload, progress = row.payload or {}, row.result or {}
        version = progress.get("version")
        if version is None:
            draft = pm_service.draft_postmortem(session, incident, settings=self.settings, now=now, user_id=payload.get("user_id"),
                                                template=payload.get("template"))
            row.result = {"version": draft.version}
        else:
            draft = pm_service.stored_draft(session, incident, settings=self.settings, version=int(version), now=now)
        announcement = session.get(Announcement, incident.id)
        return Publication(row.id, incident.team_id, draft, str(payload.get("user_id") or ""), payload.get("reply_to") or {},
                           bool(payload.get("always_reply")), bool(payload.get("include_chart", True)), bool(progress.get("uploaded")),
                           announcement is not None and not announcement.postmortem_url)

    def perform(self, work: Publication, *, reclaimed_from: datetime | None) -> Outcome:
        client = self.client_for(work.team_id)
        if client is None:
            return self.not_installed(work.team_id)
        draft = work.draft
        report = PublishReport(draft=draft)
        report.canvas_id = _publish_canvas(client, draft, report.problems)
        pointer = DraftPointer(version=draft.version, template=draft.template, status=draft.status, filename=draft.filename, canvas_id=report.canvas_id)
        report.summary_ts = _publish_summary(client, draft, pointer, report.problems)
        if report.summary_ts or report.canvas_id:
            # Remembered at once, so the next regeneration edits these instead of posting twins.
            with transaction(self.session_factory) as session:
                pm_service.record_publication(session, draft.incident_id, summary_ts=report.summary_ts, canvas_id=report.canvas_id)
        if not work.uploaded:
            _upload_files(client, draft, work.include_chart, report)
            with transaction(self.session_factory) as session:
                row = session.get(OutboxItem, work.row_id)
                if row is not None:
                    row.result = {**(row.result or {}), "uploaded": True}
        link = messages.permalink(client, draft.channel_id, report.summary_ts) if report.summary_ts and work.link_announcement else None
        if report.problems or work.always_reply:
            reply(client, work.reply_to, report.text())
        refresh_if_opened(self.session_factory, self.settings, self.clock, client, team_id=work.team_id, user_ids={work.user_id})
        log.info("published postmortem v%s of %s in %s (%d problem(s))", draft.version, draft.ref, draft.channel_id, len(report.problems))
        return Outcome.sent(channel_id=draft.channel_id, message_ts=report.summary_ts,
                            result={"version": draft.version, "uploaded": True, "permalink": link, "problems": report.problems})

    def record(self, session: Session, row: OutboxItem, work: Publication, outcome: Outcome, *, now: datetime) -> None:
        link = (outcome.result or {}).get("permalink")
        incident = session.get(Incident, work.draft.incident_id)
        if link and incident is not None:
            # The announcement and the closing line link the draft.
            announcements.note_postmortem(session, incident, url=link, now=now)


def _canvas_content(draft: pm_service.Draft) -> dict[str, str]:
    return {"type": "markdown", "markdown": draft.markdown}


def _publish_canvas(client: WebClient, draft: pm_service.Draft, problems: list[str]) -> str | None:
    if draft.canvas_id:
        try:
            client.canvases_edit(canvas_id=draft.canvas_id, changes=[{"operation": "replace", "document_content": _canvas_content(draft)}])
            return draft.canvas_id
        except (SlackApiError, SlackClientError, OSError) as error:
            if slack_reason(error) not in {"canvas_not_found", "canvas_deleted"}:
                problems.append(plain_words("The canvas wasn't updated", error))
                return draft.canvas_id
            # Someone deleted the canvas: make a new one below.
    try:
        return str(client.conversations_canvases_create(channel_id=draft.channel_id, document_content=_canvas_content(draft))["canvas_id"])
    except (SlackApiError, SlackClientError, OSError) as error:
        if slack_reason(error) not in _TRY_STANDALONE_CANVAS:
            problems.append(plain_words("No canvas was created", error))
            return None
    try:
        return str(client.canvases_create(title=f"{draft.ref} postmortem", document_content=_canvas_content(draft), channel_id=draft.channel_id)["canvas_id"])
    except (SlackApiError, SlackClientError, OSError) as error:
        problems.append(
            f"No canvas was created: this workspace doesn't allow the app to create canvases (Slack answered `{slack_reason(error)}`). "
            f"The full draft is in the Markdown file `{draft.filename}`."
        )
        return None


def _publish_summary(client: WebClient, draft: pm_service.Draft, pointer: DraftPointer, problems: list[str]) -> str | None:
    blocks = summary_blocks(draft.context, [f.sentence for f in draft.findings], pointer, incident_id=draft.incident_id)
    text = summary_fallback_text(draft.context, pointer)
    compact = compact_summary_blocks(draft.context, pointer, incident_id=draft.incident_id)
    for attempt_blocks in (blocks, compact):
        try:
            if draft.summary_ts:
                try:
                    client.chat_update(channel=draft.channel_id, ts=draft.summary_ts, blocks=attempt_blocks, text=text)
                    return draft.summary_ts
                except SlackApiError as error:
                    if slack_reason(error) not in _MESSAGE_GONE:
                        raise
                    # The old summary was deleted: post a fresh one.
            return str(client.chat_postMessage(channel=draft.channel_id, blocks=attempt_blocks, text=text)["ts"])
        except (SlackApiError, SlackClientError, OSError) as error:
            if slack_reason(error) in _MESSAGE_TOO_BIG and attempt_blocks is blocks:
                problems.append(f"Slack refused the full summary message (`{slack_reason(error)}`), so a shorter one was posted.")
                continue
            problems.append(plain_words("The summary message wasn't posted", error))
            return None
    return None


def _upload_files(client: WebClient, draft: pm_service.Draft, include_chart: bool, report: PublishReport) -> None:
    uploads: list[dict[str, Any]] = [{"content": draft.markdown, "filename": draft.filename, "title": f"{draft.ref} postmortem v{draft.version} (Markdown)"}]
    if include_chart:
        try:
            chart = render_timeline_chart(draft.context)
            uploads.append({"content": chart, "filename": f"{draft.ref}-timeline.png", "title": f"{draft.ref} timeline (UTC)"})
        except Exception as error:  # a drawing failure must not cost the Markdown file
            log.exception("timeline chart failed for %s", draft.ref)
            report.problems.append(f"The timeline chart couldn't be drawn ({type(error).__name__}).")
    try:
        client.files_upload_v2(
            channel=draft.channel_id,
            file_uploads=uploads,
            initial_comment=f"Full postmortem draft v{draft.version} of {draft.ref}" + (" and its timeline chart" if len(uploads) > 1 else ""),
        )
        report.files = [u["filename"] for u in uploads]
    except (SlackApiError, SlackClientError, OSError) as error:
        report.problems.append(plain_words(f"The file `{draft.filename}` wasn't uploaded", error))
