"""Facts -> template context.  Pure: no clock, no database, no Slack.

Everything a template prints is computed here, as ready-to-print strings,
for two reasons:

* Safety: every value that carries user text has already been through
  :func:`bot.markup.slack_to_markdown` (or :func:`bot.markup.escape_inline`
  for names), so a template -- including a team's custom one -- cannot forget
  to escape something.
* Speed: an incident with 10,000 messages renders in a small fraction of a
  second because the template loop only concatenates precomputed strings
  (``message.line``) instead of calling filters per message.

All times in the context are UTC.  ``display_tz`` is only used for the extra
``local`` strings shown next to the key times.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.markup import escape_inline, safe_url, slack_to_markdown, slack_to_plain
from bot.postmortem.facts import (
    COMMAND_KINDS,
    MILESTONE_KINDS,
    ActionFact,
    EntryFact,
    IncidentFacts,
    ReviewFields,
    TicketFact,
)
from bot.timefmt import DASH, as_utc, format_duration, format_local, format_utc, hms, opt_utc, ymd

__all__ = [
    "KIND_LABELS",
    "build_context",
    "compute_metrics",
    "format_duration",
    "format_utc",
]

NameLookup = Callable[[str], "str | None"]

UTC = UTC

#: Human label and icon for each entry kind, used by timelines and the chart.
KIND_LABELS: dict[str, tuple[str, str]] = {
    "declared": ("Incident declared", "🚨"),
    "started": ("Impact started", "🔴"),
    "detected": ("Detected", "🔔"),
    "mitigated": ("Mitigated", "🩹"),
    "resolved": ("Resolved", "✅"),
    "closed": ("Incident closed", "🏁"),
    "note": ("Note", "📝"),
    "finding": ("Finding", "🔍"),
    "hypothesis": ("Hypothesis", "💭"),
    "mitigation": ("Mitigation attempt", "🔧"),
    "decision": ("Decision", "⚖️"),
    "rootcause": ("Root cause", "🎯"),
    "status": ("Status update", "📣"),
    "severity": ("Severity change", "📈"),
    "role": ("Role change", "👤"),
    "action": ("Action item", "📋"),
    "message": ("Key message", "📌"),
    "update": ("Status update posted", "📣"),
    "title": ("Title change", "✏️"),
}

# Milestone kind -> IncidentFacts attribute, in lifecycle order.  Used both
# for the "key times" table and to fill timeline gaps when a time was set
# without a matching entry (e.g. edited later in the incident record).
_MILESTONE_FIELDS: tuple[tuple[str, str], ...] = (
    ("started", "started_at"),
    ("detected", "detected_at"),
    ("declared", "declared_at"),
    ("mitigated", "mitigated_at"),
    ("resolved", "resolved_at"),
    ("closed", "closed_at"),
)

# Investigation record buckets: context key, section title, entry kind.
_INVESTIGATION: tuple[tuple[str, str, str], ...] = (
    ("hypotheses", "Hypotheses", "hypothesis"),
    ("findings", "Findings", "finding"),
    ("mitigations", "Mitigation attempts", "mitigation"),
    ("decisions", "Decisions", "decision"),
    ("root_causes", "Root-cause statements", "rootcause"),
)

_REVIEW_STATUS_LABELS = {"draft": "Draft", "in_review": "In review", "final": "Final"}
_ACTION_STATUS_LABELS = {"open": "Open", "done": "Done", "wontfix": "Won't fix"}
# Common incident roles first, in the order people look for them.
_ROLE_ORDER = ("commander", "incident_commander", "ic", "deputy", "lead", "tech_lead",
               "scribe", "comms", "communications", "liaison")

# Role names that mean "incident commander" in the teams we know of.
_COMMANDER_ROLES = frozenset({"commander", "incident_commander", "incident-commander", "ic"})

_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

# Longest key-event label the chart will draw, in characters.
_CHART_LABEL_MAX = 42


# --------------------------------------------------------------------------
# Formatting helpers (also registered as Jinja filters by render.py)


def _seconds_between(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return (as_utc(end) - as_utc(start)).total_seconds()


# --------------------------------------------------------------------------
# Metrics


def compute_metrics(incident: IncidentFacts) -> dict[str, float | None]:
    """Response metrics in seconds; None when an end point is unknown.

    The impact start is ``started_at`` when someone recorded it, otherwise
    the moment the incident was declared -- the earliest time we know for
    sure something was wrong.  Negative values are returned as they are:
    they mean the recorded times contradict each other, which the reader
    should see rather than have hidden.
    """
    started = incident.began_at
    return {
        "time_to_detect_s": _seconds_between(started, incident.detected_at),
        "time_to_mitigate_s": _seconds_between(incident.detected_at, incident.mitigated_at),
        "time_to_resolve_s": _seconds_between(incident.detected_at, incident.resolved_at),
        "duration_s": _seconds_between(started, incident.resolved_at),
    }


_METRIC_ROWS: tuple[tuple[str, str, str, str], ...] = (
    # key, abbreviation, label, what it measures
    ("time_to_detect_s", "TTD", "Time to detect", "impact start → detected"),
    ("time_to_mitigate_s", "TTM", "Time to mitigate", "detected → mitigated"),
    ("time_to_resolve_s", "TTR", "Time to resolve", "detected → resolved"),
    ("duration_s", "Duration", "Total duration", "impact start → resolved"),
)


def _phases(incident: IncidentFacts, entries: Sequence[EntryFact]) -> list[dict[str, Any]]:
    """Detection / investigation / mitigation / resolution phases.

    Investigation ends at the first recorded mitigation attempt after
    detection (falling back to the mitigated time); the mitigation phase
    only exists when such an attempt was recorded.  A phase whose ends are
    unknown, or out of order, is left out rather than guessed.
    """
    started = as_utc(incident.began_at)
    detected = opt_utc(incident.detected_at)
    mitigated = opt_utc(incident.mitigated_at)
    resolved = opt_utc(incident.resolved_at)

    first_attempt: datetime | None = None
    if detected is not None:
        for entry in entries:  # entries are already sorted by time
            if entry.kind == "mitigation" and entry.at >= detected:
                if mitigated is None or entry.at < mitigated:
                    first_attempt = entry.at
                break

    candidates = (
        ("detection", "Detection", started, detected),
        ("investigation", "Investigation", detected, first_attempt or mitigated),
        ("mitigation", "Mitigation", first_attempt, mitigated if first_attempt else None),
        ("resolution", "Resolution", mitigated, resolved),
    )
    phases: list[dict[str, Any]] = []
    for key, label, start, end in candidates:
        if start is None or end is None or end < start:
            continue
        seconds = (end - start).total_seconds()
        phases.append({
            "key": key, "label": label, "start": start, "end": end,
            "start_utc": format_utc(start), "end_utc": format_utc(end),
            "seconds": seconds, "minutes": round(seconds / 60, 1),
            "human": format_duration(seconds), "percent": 0.0,
        })
    total = sum(p["seconds"] for p in phases)
    for phase in phases:
        # Share of the phases we could measure, so the column adds up to 100.
        phase["percent"] = round(100 * phase["seconds"] / total, 1) if total > 0 else 0.0
    return phases


# --------------------------------------------------------------------------
# Names


class _Names:
    """Memoised user-id -> display-name lookups.

    The lookup may hit a database or the Slack API; a 10,000-message channel
    usually has a few dozen authors, so each id is resolved once.
    """

    def __init__(self, lookup: NameLookup) -> None:
        self._lookup = lookup
        self._raw: dict[str, str | None] = {}
        self._md: dict[str, str] = {}

    def raw(self, user_id: str) -> str | None:
        try:
            return self._raw[user_id]
        except KeyError:
            pass
        try:
            found = self._lookup(user_id)
        except Exception:  # an unreachable directory must not block the draft
            found = None
        name = " ".join(found.split()) if found else None
        self._raw[user_id] = name
        return name

    def plain(self, user_id: str | None) -> str:
        """Unescaped display name (for sorting and the chart)."""
        if not user_id:
            return ""
        return self.raw(user_id) or user_id

    def md(self, user_id: str | None) -> str:
        """Markdown-safe display name, or an em dash for "nobody"."""
        if not user_id:
            return DASH
        try:
            return self._md[user_id]
        except KeyError:
            pass
        name = escape_inline(self.plain(user_id))
        self._md[user_id] = name
        return name


# --------------------------------------------------------------------------
# Timeline pieces


def _is_reply(entry: EntryFact) -> bool:
    # Slack gives the parent message thread_ts == ts; only replies differ.
    return bool(entry.thread_ts) and entry.thread_ts != entry.ts


def _files_md(entry: EntryFact) -> tuple[list[dict[str, str | None]], str]:
    files: list[dict[str, str | None]] = []
    parts: list[str] = []
    for ref in entry.files:
        name = escape_inline(" ".join((ref.name or "file").split()))
        url = safe_url(ref.permalink) if ref.permalink else None
        files.append({"name": name, "url": url})
        parts.append(f"[{name}]({url})" if url else name)
    return files, ", ".join(parts)


def _ticket_md(ticket: TicketFact | None) -> str:
    """An action item's ticket in a table cell: `Jira [OPS-12](url) (Shipped)`."""
    if ticket is None:
        return DASH
    if ticket.key is None:
        return f"{ticket.tracker}: " + ("being created" if ticket.state == "creating" else "not created")
    url = safe_url(ticket.url) if ticket.url else None
    key = escape_inline(ticket.key)
    cell = f"{ticket.tracker} [{key}]({url})" if url else f"{ticket.tracker} {key}"
    return cell + (f" ({escape_inline(' '.join(ticket.status.split()))})" if ticket.status else "")


def _links(entry: EntryFact) -> tuple[list[dict[str, str | None]], str]:
    """Link previews and images as Markdown links; a URL that isn't safe to link is left out."""
    links: list[dict[str, str | None]] = []
    parts: list[str] = []
    for ref in entry.links:
        url = safe_url(ref.url)
        if not url:
            continue
        title = escape_inline(" ".join((ref.title or ref.url).split()))
        image = safe_url(ref.image_url) if ref.image_url else None
        links.append({"title": title, "url": url, "image_url": image})
        part = f"[{title}]({url})"
        if image and image != url:
            part += f" ([image]({image}))"
        parts.append(part)
    return links, ", ".join(parts)


def _with_integration_names(lookup: NameLookup, entries: Sequence[EntryFact]) -> NameLookup:
    """People's names from *lookup*; a bot id, which no directory names, by the name it posted under."""
    posted_as: dict[str, str] = {}
    for entry in entries:
        if entry.author and entry.author_name:
            posted_as.setdefault(entry.author, entry.author_name)
    if not posted_as:
        return lookup

    def name(user_id: str) -> str | None:
        try:
            found = lookup(user_id)
        except Exception:  # as _Names: an unreachable directory must not block the draft
            found = None
        return found or posted_as.get(user_id)

    return name


def _short_plain(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _role_label(role: str) -> str:
    words = role.replace("_", " ").replace("-", " ").split()
    return escape_inline(" ".join(words).capitalize()) if words else escape_inline(role)


def _role_sort_key(role: str) -> tuple[int, str]:
    key = role.lower()
    return (_ROLE_ORDER.index(key) if key in _ROLE_ORDER else len(_ROLE_ORDER), key)


# --------------------------------------------------------------------------
# Prompts for the parts only people can write


def _prompts(incident: IncidentFacts, metrics: dict[str, float | None],
             has_root_cause_notes: bool) -> dict[str, str]:
    """Specific writing instructions, shown where a review field is empty.

    They quote the incident's own times so the writer does not have to look
    them up.  Wording avoids words like "fault" on purpose: the blameless
    checker runs over the rendered draft and must not flag our own text.
    """
    start = format_utc(incident.began_at)
    end_at = incident.resolved_at or incident.mitigated_at
    window = f"from {start} to {format_utc(end_at)}" if end_at else f"since {start}"
    duration = (format_duration(metrics["duration_s"]) if metrics["duration_s"] is not None
                else "not resolved yet")
    rc_hint = (" The root-cause statements recorded during the incident are listed in the"
               " investigation record; confirm or correct them here."
               if has_root_cause_notes else "")
    return {
        "summary": (
            "In two or three plain sentences for readers outside the team: what users "
            f"experienced, for how long ({window}, {duration}), why it happened, and what "
            "restored service."),
        "impact": (
            f"Quantify the effect {window}: which customers, requests, regions or features "
            "were affected and how much (counts or percentages), any data lost or delayed, "
            "SLO / error-budget burn, SLA credits and support tickets. Say where each number "
            "comes from (dashboard, query, ticket count)."),
        "root_cause": (
            "Explain the technical mechanism that produced the failure and why the system "
            "allowed it (design assumption, missing safeguard, unexpected interaction). "
            "Describe conditions and systems, not individuals, and link the evidence: "
            "graphs, logs, commits or tickets." + rc_hint),
        "trigger": (
            "Name the specific change or event that set the failure off (deploy, config "
            "push, traffic pattern, dependency outage, certificate expiry) and when it "
            "happened, if that differs from the impact start."),
        "detection": (
            "Describe how the problem was first noticed (alert name, dashboard, customer "
            "report), whether an alert should have caught it sooner, and what would shorten "
            "the time to detect next time."),
        "resolution": (
            "List the steps that actually restored service, in order, and how the team "
            "verified recovery. Mention the options that were considered and set aside, and "
            "why."),
        "contributing_factors": (
            "List the conditions that made this incident possible, bigger or slower to "
            "resolve: gaps in tests, monitoring, runbooks, tooling, capacity, ownership or "
            "process. For each one, write one line on how it contributed and whether it "
            "could reasonably have been known beforehand."),
        "what_went_well": (
            "Name the practices, tools and decisions that limited the impact or sped up the "
            "response (an alert that fired early, a runbook that worked, a fast rollback), "
            "so the team keeps doing them."),
        "what_went_wrong": (
            "Name the points where the response slowed down or the system offered no help: "
            "missing signals, confusing dashboards, slow tooling, unclear ownership, "
            "communication gaps. Phrase each as something the system or process can change."),
        "where_we_got_lucky": (
            "Be honest about circumstances that kept this from being worse and that we "
            "cannot count on next time (time of day, a person who happened to be online, "
            "a cache that happened to be warm)."),
        "lessons": (
            "Write the two to five takeaways you want other teams to remember, each tied to "
            "an action item or a practice to keep."),
        "five_whys": (
            "Start from the symptom users saw and ask \"why?\" up to five times. Each answer "
            "must be a verifiable fact about the system or process and becomes the next "
            "question. Stop at a cause that an action item below can address; several "
            "branches are fine."),
        "action_items": (
            "Every contributing factor should map to at least one action item with a single "
            "owner, a due date and a priority. Add missing items with the action-item "
            "command so they are tracked."),
        "executive_incident": "One sentence: what broke, for whom, and for how long.",
        "executive_impact": (
            "One sentence with numbers: users or revenue affected, SLA or SLO consequences."),
        "executive_root_cause": "One sentence, no jargon: what actually failed and why.",
        "executive_resolution": "One sentence: what restored service.",
        "executive_prevention": (
            "One sentence: the most important follow-up and when it will be done."),
        "business_impact": (
            "State the business consequences a leader needs: customer-facing downtime, "
            "estimated revenue effect, contractual SLA exposure, reputational or regulatory "
            "follow-up, and which customers need a personal update."),
        "timeline_review": (
            "Check this timeline against the dashboards. If impact began before the first "
            "alert, record the real start time so the time-to-detect is right."),
        "immediate_cause": (
            "State the direct technical cause of the failure in one or two sentences (for "
            "example: the connection pool ran out because connections were never returned), "
            "with the evidence that confirms it."),
        "causal_chain": (
            "Write the chain from the underlying condition to what users saw, one step per "
            "line: underlying condition → what it enabled → direct cause → first effect → "
            "knock-on effects → visible symptoms."),
        "assumptions": (
            "List beliefs about the system that this incident proved wrong (\"the retry "
            "limit protects the database\", \"staging has production-like data\"), what is "
            "actually true, and what changes because of it."),
        "knowledge_gaps": (
            "Which facts were hard to find during the response (dashboards, owners, "
            "runbooks, architecture)? Say where that knowledge will be written down."),
        "communication": (
            "How were stakeholders, support and customers kept informed (status page, "
            "announcement channels)? Note any update that came late or was missing."),
        "risk_acceptance": (
            "Record any risk the team decided not to address now, why, and how it will be "
            "watched (alert, review date)."),
        "slo_impact": (
            "Say which SLOs were breached, by how much (for example availability 99.2 % against "
            "a 99.9 % target over the window), and how much of the period's error budget was used."),
        "system_impact": (
            "List the services, databases and queues that degraded or failed, and any that were "
            "pulled in as dependencies (retries, backlogs, failovers)."),
        "prevention": (
            "Describe what keeps this class of failure from happening again, in three horizons: "
            "already done during the incident, this sprint, and this quarter. Each line should "
            "point to an action item."),
        "response_gaps": (
            "Where did the response lose time? Detection gaps (missing or late alerts), "
            "investigation detours (hypotheses that took long to rule out), resolution delays "
            "(slow rollback, waiting for access) and communication gaps (late updates)."),
        "failure_modes": (
            "For each way this failure can show up again, describe its symptoms, how it would be "
            "detected and how to mitigate it, so on-call can recognise it quickly."),
        "verification": (
            "Explain how to confirm the fixes work: the checks to run by hand, the automated "
            "tests or alerts that now cover it, and the measurable success criteria."),
        "supporting_evidence": (
            "Attach the evidence behind the analysis: log excerpts, graphs of the impact window, "
            "the commit or config change involved, and queries used to size the impact."),
        "related": (
            "Link earlier incidents with a similar cause, and the runbooks, architecture "
            "documents, tickets and dashboards the responders relied on."),
        "cross_references": (
            "Name the documents that must change because of what was learned (architecture "
            "diagrams, dependency lists, runbooks, performance baselines, review checklists) and "
            "who updates each."),
        "follow_up": (
            "Note who needs to review this document, when the review meeting is, and when "
            "the action items will be checked again."),
    }


# --------------------------------------------------------------------------
# The context


def build_context(
    incident: IncidentFacts,
    entries: Sequence[EntryFact],
    actions: Sequence[ActionFact],
    review: ReviewFields,
    *,
    user_name: NameLookup,
    generated_at: datetime,
    display_tz: ZoneInfo,
) -> dict[str, Any]:
    """Build the template context for one incident (docs/using.md#template-variables lists its keys)."""
    names = _Names(_with_integration_names(user_name, entries))
    channel_label = incident.channel_name

    def channel_lookup(channel_id: str) -> str | None:
        # We only know the incident's own channel name; other channels fall
        # back to the label Slack put in the token.
        return channel_label if channel_id == incident.channel_id else None

    def inline(text: str) -> str:
        return slack_to_markdown(text, user_name=names.raw, channel_name=channel_lookup)

    def block(text: str | None) -> str | None:
        if text is None or not text.strip():
            return None
        converted = slack_to_markdown(text, user_name=names.raw, channel_name=channel_lookup,
                                      inline=False)
        return converted or None

    # Sorting is stable, so entries sharing a timestamp keep their given order.
    live = sorted((e for e in entries if e.text is not None), key=lambda e: as_utc(e.at))
    live = [e if e.at.tzinfo is UTC else _replace_at(e) for e in live]

    metrics = compute_metrics(incident)

    # -- key times ---------------------------------------------------------
    key_times = []
    for kind, attr in _MILESTONE_FIELDS:
        at = opt_utc(getattr(incident, attr))
        label = KIND_LABELS[kind][0]
        if kind == "started" and incident.started_at is None:
            label += " (not recorded; declaration time used)"
            at = as_utc(incident.declared_at)
        key_times.append({"kind": kind, "label": label, "at": at, "utc": format_utc(at),
                          "local": format_local(at, display_tz)})

    metric_rows = [
        {"key": key, "abbr": abbr, "label": label, "measures": measures,
         "title": label if abbr == "Duration" else f"{label} ({abbr})",
         "seconds": metrics[key], "human": format_duration(metrics[key])}
        for key, abbr, label, measures in _METRIC_ROWS
    ]

    # -- key events, investigation record, communication log ---------------
    key_events: list[dict[str, Any]] = []
    investigation: dict[str, list[dict[str, Any]]] = {key: [] for key, _, _ in _INVESTIGATION}
    bucket_for_kind = {kind: key for key, _, kind in _INVESTIGATION}
    messages: list[dict[str, Any]] = []
    status_updates: list[dict[str, Any]] = []
    seen_milestones: set[str] = set()
    authors: set[str] = set()
    reply_count = 0
    file_count = 0
    last_msg_day = ""

    for entry in live:
        at = entry.at
        day = ymd(at)
        time = hms(at)
        if entry.author:
            authors.add(entry.author)
        text_md = inline(entry.text) if entry.text else ""
        author_md = escape_inline(" ".join(entry.author_name.split())) if entry.author_name else names.md(entry.author)
        if entry.edited_by:
            text_md += f" _(edited by {names.md(entry.edited_by)})_"

        if entry.kind == "message":
            reply = _is_reply(entry)
            files, files_md = _files_md(entry) if entry.files else ([], "")
            reply_count += reply
            file_count += len(files)
            # The whole bullet is assembled here, once, so the template loop
            # over thousands of messages is a plain string concatenation.
            parts = [f"- `{time}` "]
            if reply:
                parts.append("↳ ")
            parts.append(f"**{author_md}**")
            if reply:
                parts.append(" _(in thread)_")
            parts.append(": ")
            parts.append(text_md)
            if entry.edited:
                parts.append(" _(edited)_")
            if entry.key:
                parts.append(" 📌")
            if files_md:
                parts.append(f" 📎 {files_md}")
            links, links_md = _links(entry) if entry.links else ([], "")
            if links_md:
                parts.append(f" 🔗 {links_md}")
            messages.append({
                "at": at, "date": day, "time": time, "utc": f"{day} {time} UTC",
                "weekday": _WEEKDAYS[at.weekday()],
                "author": author_md, "text": text_md, "is_reply": reply,
                "edited": entry.edited, "key": entry.key, "files": files, "links": links,
                "new_day": day != last_msg_day, "line": "".join(parts),
            })
            last_msg_day = day
            if not entry.key:
                continue

        # A message marked with "Add to timeline" stays in the communication log above and
        # counts here as the kind chosen for it (a finding, a milestone…).
        kind = entry.marked_as or entry.kind
        if kind in MILESTONE_KINDS:
            seen_milestones.add(kind)
        key_events.append(_event(kind, at, day, time, author_md, text_md,
                                 entry.text or "", names, channel_lookup, entry.source, entry.entry_id))

        if entry.kind == "update":
            status_updates.append({"at": at, "date": day, "time": time, "utc": f"{day} {time} UTC", "author": author_md, "text": text_md})

        bucket = bucket_for_kind.get(kind)
        if bucket is not None:
            investigation[bucket].append({
                "at": at, "date": day, "time": time, "utc": f"{day} {time} UTC",
                "author": author_md, "text": text_md,
            })

    # Milestones known only from the incident record (no entry captured,
    # e.g. a time corrected after the fact) still belong on the timeline.
    for kind, attr in _MILESTONE_FIELDS:
        at = opt_utc(getattr(incident, attr))
        if at is None or kind in seen_milestones:
            continue
        who = incident.created_by if kind == "declared" else None
        key_events.append(_event(kind, at, ymd(at), hms(at), names.md(who), "", "",
                                 names, channel_lookup, "incident"))
    key_events.sort(key=lambda e: e["at"])
    previous_day = ""
    for event in key_events:
        event["new_day"] = event["date"] != previous_day
        previous_day = event["date"]

    # -- people ------------------------------------------------------------
    role_holders = {uid for uid in incident.roles.values() if uid}
    people = authors | role_holders
    participants = [names.md(uid) for uid in
                    sorted(people, key=lambda uid: (names.plain(uid).casefold(), uid))]
    roles = [
        {"role": escape_inline(role), "label": _role_label(role), "name": names.md(uid)}
        for role, uid in sorted(incident.roles.items(), key=lambda kv: _role_sort_key(kv[0]))
    ]

    commander_id = next((incident.roles[r] for r in incident.roles
                         if r.lower() in _COMMANDER_ROLES and incident.roles[r]), None)

    # -- action items ------------------------------------------------------
    action_rows = []
    counts = {"open": 0, "done": 0, "wontfix": 0, "total": 0}
    for action in sorted(actions, key=lambda a: a.id):
        if action.due_at is not None:
            due_at = as_utc(action.due_at)
            due = f"{ymd(due_at)} {due_at.hour:02d}:{due_at.minute:02d} UTC"
        elif action.due is not None:
            due = ymd(action.due)
        else:
            due = DASH
        status = action.status if action.status in _ACTION_STATUS_LABELS else "open"
        counts[status] += 1
        counts["total"] += 1
        action_rows.append({
            "id": action.id,
            "text": inline(action.text) or DASH,
            "owner": names.md(action.owner) if action.owner else None,
            "owner_display": names.md(action.owner) if action.owner else "_unassigned_",
            "due": due,
            "priority": escape_inline(action.priority) if action.priority else DASH,
            "status": status,
            "status_label": _ACTION_STATUS_LABELS[status],
            "ticket": _ticket_md(action.ticket),
        })

    # -- review fields -----------------------------------------------------
    review_status = review.status if review.status in _REVIEW_STATUS_LABELS else "draft"
    review_ctx = {
        "summary": block(review.summary),
        "impact": block(review.impact),
        "root_cause": block(review.root_cause),
        "contributing_factors": block(review.contributing_factors),
        "lessons": block(review.lessons),
        "status": review_status,
        "status_label": _REVIEW_STATUS_LABELS[review_status],
        "version": review.version,
    }

    generated = as_utc(generated_at)
    channel_display = ("#" + escape_inline(incident.channel_name)
                       if incident.channel_name else escape_inline(incident.channel_id))
    incident_ctx = {
        "id": incident.id,
        "ref": escape_inline(incident.ref),
        "title": inline(incident.title) or "Untitled incident",
        "severity": escape_inline(incident.severity) if incident.severity else None,
        "severity_label": escape_inline(incident.severity) if incident.severity else "Not set",
        "status": incident.status,
        "status_label": "Closed" if incident.status == "closed" else "Open",
        "channel_id": escape_inline(incident.channel_id),
        "channel": channel_display,
        "declared_at": as_utc(incident.declared_at),
        "started_at": opt_utc(incident.started_at),
        "detected_at": opt_utc(incident.detected_at),
        "mitigated_at": opt_utc(incident.mitigated_at),
        "resolved_at": opt_utc(incident.resolved_at),
        "closed_at": opt_utc(incident.closed_at),
        "started_is_estimate": incident.started_at is None,
        "created_by": names.md(incident.created_by) if incident.created_by else None,
        "date": ymd(as_utc(incident.began_at)),
    }

    investigation_sections = [
        {"key": key, "title": title, "entries": investigation[key]}
        for key, title, _ in _INVESTIGATION
    ]

    return {
        "incident": incident_ctx,
        "review": review_ctx,
        "metrics": metrics,
        "metric_rows": metric_rows,
        "key_times": key_times,
        "phases": _phases(incident, live),
        "participants": participants,
        "roles": roles,
        "commander": names.md(commander_id) if commander_id else None,
        "key_events": key_events,
        "investigation": investigation,
        "investigation_sections": investigation_sections,
        "investigation_count": sum(len(items) for items in investigation.values()),
        "messages": messages,
        "status_updates": status_updates,
        "message_count": len(messages),
        "reply_count": reply_count,
        "file_count": file_count,
        "actions": action_rows,
        "action_counts": counts,
        # The action items table gets a Ticket column only when some item has a ticket.
        "actions_have_tickets": any(a.ticket is not None for a in actions),
        "prompts": _prompts(incident, metrics, bool(investigation["root_causes"])),
        "generated_at": generated,
        "generated_at_utc": format_utc(generated),
        "display_tz": display_tz.key,
    }


def _replace_at(entry: EntryFact) -> EntryFact:
    # Normalise once so every later comparison and format sees UTC.
    return replace(entry, at=as_utc(entry.at))


def _event(kind: str, at: datetime, day: str, time: str, author_md: str, text_md: str,
           raw_text: str, names: _Names, channel_lookup: NameLookup,
           source: str, entry_id: int | None = None) -> dict[str, Any]:
    label, icon = KIND_LABELS.get(kind, (kind.replace("_", " ").capitalize(), "•"))
    label = escape_inline(label)
    # Plain, short text for the PNG chart, which cannot render Markdown.
    plain = _short_plain(slack_to_plain(raw_text, names.raw, channel_lookup), _CHART_LABEL_MAX) \
        if raw_text else ""
    return {
        "at": at, "date": day, "time": time, "utc": f"{day} {time} UTC",
        "weekday": _WEEKDAYS[at.weekday()],
        "kind": kind, "label": label, "icon": icon, "author": author_md,
        "text": text_md, "source": source, "new_day": False, "entry_id": entry_id,
        "milestone": kind in MILESTONE_KINDS,
        "command": kind in COMMAND_KINDS,
        "chart_label": f"{KIND_LABELS.get(kind, (kind, ''))[0]}: {plain}" if plain
        else KIND_LABELS.get(kind, (kind, ""))[0],
    }
