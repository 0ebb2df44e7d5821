"""Draft a postmortem and put it in the channel: summary message, canvas, Markdown file, chart.

Runs after the ack (lazy listeners), so it may take several Slack round trips. The
draft version is committed before Slack is called: whatever Slack does, the version
is kept and `scribe export --format md` prints it. Each Slack failure is worded for
the person who asked and the rest of the publication still goes ahead.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy.orm import Session, sessionmaker

from bot.config import Settings
from bot.db import transaction
from bot.postmortem import render_timeline_chart
from bot.services import announcements
from bot.services import postmortem as pm_service
from bot.services.postmortem import Draft
from bot.slack.blocks.postmortem import (
    DraftPointer,
    compact_summary_blocks,
    summary_blocks,
    summary_fallback_text,
)

log = logging.getLogger(__name__)

# conversations.canvases.create errors after which a standalone canvas tabbed in the
# channel is still worth a try (the channel already has its own canvas, or the plan
# doesn't allow channel canvases).
_TRY_STANDALONE_CANVAS = {"channel_canvas_already_exists", "team_tier_cannot_create_channel_canvases", "not_allowed", "restricted_action", "missing_scope"}
_MESSAGE_TOO_BIG = {"invalid_blocks", "msg_too_long", "invalid_blocks_format", "too_many_blocks"}
_MESSAGE_GONE = {"message_not_found", "cant_update_message", "edit_window_closed"}


@dataclass
class PublishReport:
    draft: Draft
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


def publish_postmortem(
    session_factory: sessionmaker[Session],
    client: WebClient,
    *,
    settings: Settings,
    now: Callable[[], datetime],
    user_id: str,
    draft: Callable[[Session], Draft],
    include_chart: bool = True,
) -> PublishReport:
    """Store a new version with *draft* (one transaction), then publish it in its channel."""
    with transaction(session_factory) as session:
        stored = draft(session)
    report = PublishReport(draft=stored)
    channel = stored.channel_id

    report.canvas_id = _publish_canvas(client, stored, report.problems)
    pointer = DraftPointer(version=stored.version, template=stored.template, status=stored.status,
                           filename=stored.filename, canvas_id=report.canvas_id)
    report.summary_ts = _publish_summary(client, stored, pointer, report.problems)
    if report.summary_ts or report.canvas_id:
        # Remembered at once, so the next regeneration edits these instead of posting twins.
        with transaction(session_factory) as session:
            pm_service.record_publication(session, stored.incident_id, summary_ts=report.summary_ts, canvas_id=report.canvas_id)
    _upload_files(client, stored, include_chart, report)
    if report.summary_ts:
        # The announcement and the closing line link the draft (bot.services.announcements).
        try:
            announcements.note_postmortem(session_factory, client, settings=settings, incident_id=stored.incident_id,
                                          channel_id=channel, summary_ts=report.summary_ts, now=now())
        except Exception:  # the draft is published; a stale link must not turn that into a failure
            log.exception("could not link the postmortem of %s from its announcement", stored.ref)
    log.info("published postmortem v%s of %s in %s (%d problem(s))", stored.version, stored.ref, channel, len(report.problems))
    return report


def _canvas_content(draft: Draft) -> dict[str, str]:
    return {"type": "markdown", "markdown": draft.markdown}


def _publish_canvas(client: WebClient, draft: Draft, problems: list[str]) -> str | None:
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
        return client.conversations_canvases_create(channel_id=draft.channel_id, document_content=_canvas_content(draft))["canvas_id"]
    except (SlackApiError, SlackClientError, OSError) as error:
        if slack_reason(error) not in _TRY_STANDALONE_CANVAS:
            problems.append(plain_words("No canvas was created", error))
            return None
    try:
        return client.canvases_create(title=f"{draft.ref} postmortem", document_content=_canvas_content(draft), channel_id=draft.channel_id)["canvas_id"]
    except (SlackApiError, SlackClientError, OSError) as error:
        problems.append(
            f"No canvas was created: this workspace doesn't allow the app to create canvases (Slack answered `{slack_reason(error)}`). "
            f"The full draft is in the Markdown file `{draft.filename}`."
        )
        return None


def _publish_summary(client: WebClient, draft: Draft, pointer: DraftPointer, problems: list[str]) -> str | None:
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
            return client.chat_postMessage(channel=draft.channel_id, blocks=attempt_blocks, text=text)["ts"]
        except (SlackApiError, SlackClientError, OSError) as error:
            if slack_reason(error) in _MESSAGE_TOO_BIG and attempt_blocks is blocks:
                problems.append(f"Slack refused the full summary message (`{slack_reason(error)}`), so a shorter one was posted.")
                continue
            problems.append(plain_words("The summary message wasn't posted", error))
            return None
    return None


def _upload_files(client: WebClient, draft: Draft, include_chart: bool, report: PublishReport) -> None:
    uploads = [{"content": draft.markdown, "filename": draft.filename, "title": f"{draft.ref} postmortem v{draft.version} (Markdown)"}]
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
