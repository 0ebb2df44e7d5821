"""`scribe demo`: the real app, in HTTP mode, on SQLite in a temporary folder, against the
local Slack simulator, replaying a realistic incident channel.

The simulator's clock and the app's clock are one controllable clock, so an incident
that lasts an hour replays in a couple of seconds with true-to-life timestamps.

What the app posts is printed as people see it in Slack (bot.markup.slack_as_seen: `@ann`,
`#inc-…`, `>`), in columns measured in terminal cells (emoji take two), and whatever is
cut short ends with `…`.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click
from wcwidth import wcswidth

from bot.config import Settings
from bot.markup import slack_as_seen
from bot.simulator.clock import FakeClock
from bot.simulator.player import SlackPlayer
from bot.simulator.webapi import FakeSlackWebAPI
from bot.simulator.workspace import Workspace

SIGNING_SECRET = "demo-signing-secret"
CHANNEL = "C0DEMO1"



def _message(workspace: Workspace, channel: str, ts: str) -> dict[str, Any]:
    """A message the demo just saw posted (the simulator returns None for one that isn't there)."""
    found = workspace.message(channel, ts)
    assert found is not None, f"no message {ts} in {channel}"
    return found

def _hhmm(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def cells(text: str) -> int:
    """How many terminal cells `text` takes: an emoji two, a combining mark none."""
    width = wcswidth(text)
    return width if width >= 0 else len(text)  # a control character: count characters


def cut(text: str, width: int) -> str:
    """`text` within `width` cells, ending with … when it had to be cut."""
    if cells(text) <= width:
        return text
    end = 0
    while end < len(text) and cells(text[: end + 1]) <= width - 1:
        end += 1
    return text[:end].rstrip() + "…"


def pad(text: str, width: int) -> str:
    return text + " " * max(0, width - cells(text))


def first_line(text: str) -> str:
    """The first line of a longer message, marked as cut when more follow."""
    lines = text.splitlines() or [""]
    return lines[0] + (" …" if len(lines) > 1 else "")


class DemoScript:
    """Drives one incident, printing each step the way it would look in Slack."""

    def __init__(self, player: SlackPlayer, clock: FakeClock):
        self.player = player
        self.clock = clock

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def wait(self, minutes: float) -> None:
        self.clock.advance(minutes * 60)

    def name(self, user_id: str) -> str:
        user = self.player.workspace.user(user_id)
        return user.name if user is not None else user_id

    def seen(self, text: str) -> str:
        """Slack markup as the channel shows it: @ann, #inc-…, >."""
        channels = self.player.workspace.channels
        return slack_as_seen(text, user_name=lambda u: self.name(u),
                             channel_name=lambda c: channels[c].name if c in channels else None)

    def say(self, user: str, text: str, **kwargs: object) -> str:
        ts = self.player.say(user, CHANNEL, text, **kwargs)  # type: ignore[arg-type]
        thread = " (in thread)" if kwargs.get("thread_ts") else ""
        click.echo(f"  {self.now():%H:%M} <{self.name(user)}>{thread} {text}")
        return ts

    def show_last_bot_post(self) -> None:
        """The bot's latest message in the channel, as the channel sees it."""
        message = self.player.workspace.messages(CHANNEL)[-1]
        for line in _block_lines(message.get("blocks") or []) or [message["text"]]:
            click.echo(f"         │ {self.seen(line)}")

    def command(self, user: str, text: str) -> dict:
        reply = self.player.command(user, CHANNEL, text)
        body = reply.json() if reply.status == 200 else {"text": f"HTTP {reply.status}"}
        click.echo(f"  {self.now():%H:%M} <{self.name(user)}> /incident {self.seen(text)}")
        click.echo(f"         ↳ {first_line(self.seen(body.get('text') or ''))}")
        return body


def play_incident(script: DemoScript, deliver_nudges: Callable[[], None] = lambda: None) -> None:
    t0 = script.now()
    script.say("U0BOB", "Anyone else seeing 502s on /checkout? Started a few minutes ago")
    script.wait(2)
    script.command("U0ANN", "start Checkout returns 502 after v2.3.1 deploy sev2")
    script.command("U0ANN", "role lead <@U0ANN|ann>")
    script.command("U0ANN", f"started at {_hhmm(t0 - timedelta(minutes=9))} first 502s in the load balancer logs")
    script.command("U0BOB", "detected at 6m ago PagerDuty: checkout error rate > 5%")
    script.wait(3)
    parent = script.say("U0CHI", "Error rate is 31% on the checkout dashboard")
    script.say("U0BOB", "DB connections flat at 100/100", thread_ts=parent)
    script.say("U0CHI", "dashboard screenshot", files=[{"name": "checkout-errors.png"}])
    script.wait(4)
    guess = script.say("U0CHI", "db pool exhausted??")
    script.player.edit("U0CHI", CHANNEL, guess, "DB connection pool exhausted: every connection is checked out and none come back")
    click.echo("         (Chi edits the message)")
    oops = script.say("U0BOB", "oops, wrong channel: lunch at 1?")
    script.player.delete(CHANNEL, oops)
    click.echo("         (Bob deletes the message)")
    script.command("U0ANN", "hypothesis Connection leak introduced in v2.3.1")
    script.command("U0ANN", "update investigating About 30% of checkouts fail with 502; we suspect v2.3.1 and are preparing a rollback next 5m")
    script.show_last_bot_post()
    script.wait(6)
    # The update promised another within 5 minutes and none came: the channel is nudged (once).
    deliver_nudges()
    rollback = script.say("U0ANN", "Rolling back checkout to v2.3.0 now")
    script.player.pin("U0ANN", CHANNEL, rollback)
    click.echo("         (Ann pins the message)")
    script.command("U0ANN", "decision Roll back rather than raise the pool size")
    script.command("U0ANN", "mitigation Rollback of checkout to v2.3.0 started")
    # Slack redelivers the last message event (as if our first 200 got lost): still recorded once.
    envelope = script.player.sent_events[-1]
    script.player.send_event(envelope["event"], retry_num=1, retry_reason="http_timeout", event_id=envelope["event_id"])
    script.wait(9)
    done = script.say("U0BOB", "Rollback complete, connections dropping, error rate 0.4%")
    script.player.react("U0CHI", CHANNEL, done, name="pushpin")
    click.echo("         (Chi reacts with :pushpin:)")
    script.command("U0ANN", "mitigated")
    script.command("U0CHI", "rootcause v2.3.1 acquired a DB connection per request and never released it on the error path")
    script.wait(25)
    script.command("U0ANN", "resolved error rate back to baseline for 25 minutes")


def play_curation(script: DemoScript, runtime, api: FakeSlackWebAPI) -> None:
    """Bob's detected time was typed from memory and is off by four minutes: he fixes it from
    `/incident timeline` (TTD changes), and Chi marks a message as a finding with "Add to timeline"."""
    from sqlalchemy import select

    from bot.models import TimelineEntry
    from bot.services.export import export_incident
    from bot.services.incidents import latest_incident
    from bot.slack.blocks import curation as cb

    def ttd() -> str:
        with runtime.app.scribe.session_factory() as session:
            incident = latest_incident(session, channel_id=CHANNEL)
            assert incident is not None
            metrics = export_incident(session, incident)["metrics"]
        return f"{metrics['time_to_detect_s']:.0f} s"

    with runtime.app.scribe.session_factory() as session:
        detected = session.scalars(select(TimelineEntry).where(TimelineEntry.kind == "detected")).one()
        detected_id, version, at = detected.id, detected.version, detected.at
        finding = session.scalars(select(TimelineEntry).where(TimelineEntry.text == "Error rate is 31% on the checkout dashboard")).one()
        finding_ts = finding.ts
    click.echo(f"\nCorrecting the timeline (TTD before: {ttd()}):")
    script.command("U0BOB", "timeline 5")
    click.echo(f"  {script.now():%H:%M} <bob> ⋮ Edit on the Detected entry")
    script.player.choose_overflow("U0BOB", CHANNEL, action_id=cb.ENTRY_MENU, value=f"edit:{detected_id}:{version}", ephemeral=True)
    view_id = api.wait_for(lambda a: [v["id"] for v in a.views.values() if v["callback_id"] == cb.EDIT_VIEW])[-1]
    # The page really came four minutes earlier than he typed: he writes it the way he'd type `at`.
    typed = f"{round((script.now() - at).total_seconds() / 60) + 4}m ago"
    script.player.submit_view("U0BOB", callback_id=cb.EDIT_VIEW, view_id=view_id, values={"text": "PagerDuty: checkout error rate > 5%", "at": typed})
    click.echo(f"         ↳ When: {typed}")
    api.wait_for(lambda a: any(m.get("text", "").startswith(":pencil2:") for m in a.workspace.messages(CHANNEL)))
    click.echo(f"  #inc-checkout-502: {script.seen(api.workspace.messages(CHANNEL)[-1]['text'])}")
    click.echo(f"  TTD after: {ttd()}")

    click.echo(f"  {script.now():%H:%M} <chi> Add to timeline on “Error rate is 31% on the checkout dashboard” → Finding")
    script.player.message_shortcut("U0CHI", CHANNEL, finding_ts, callback_id=cb.SHORTCUT)
    view_id = api.wait_for(lambda a: [v["id"] for v in a.views.values() if v["callback_id"] == cb.MARK_VIEW])[-1]
    script.player.submit_view("U0CHI", callback_id=cb.MARK_VIEW, view_id=view_id, values={
        "kind": {"kind": {"type": "static_select", "selected_option": {"value": "finding"}}},
        "text": "Error rate is 31% on the checkout dashboard",
    })
    api.wait_for(lambda a: any(m.get("text", "").startswith(":pushpin: <@U0CHI> added") for m in a.workspace.messages(CHANNEL)))
    click.echo(f"  #inc-checkout-502: {script.seen(api.workspace.messages(CHANNEL)[-1]['text'])}")


def _block_lines(blocks: list[dict]) -> list[str]:
    """A Block Kit message as the plain lines a reader would see in Slack."""
    lines: list[str] = []
    for block in blocks:
        if block["type"] in ("header", "section"):
            lines.extend(block["text"]["text"].splitlines())
        elif block["type"] == "context":
            lines.extend(e["text"] for e in block["elements"])
        elif block["type"] == "actions":
            lines.append("  ".join(f"[{e['text']['text']}]" for e in block["elements"]))
        elif block["type"] == "divider":
            lines.append("─" * 40)
    return lines


def play_postmortem(script: DemoScript, api: FakeSlackWebAPI, *, draft_lines: int = 40) -> str:
    """Run `/incident postmortem`, wait for the draft to be posted, and print what the channel shows."""
    script.wait(5)
    script.command("U0ANN", "close")
    script.command("U0ANN", "postmortem")
    api.wait_for(lambda a: [c for c in a.calls_to("files.completeUploadExternal") if c.ok], timeout=30)
    post = next(c for c in reversed(api.calls_to("chat.postMessage")) if c.params.get("blocks"))
    blocks = post.params["blocks"]
    blocks = json.loads(blocks) if isinstance(blocks, str) else blocks
    click.echo("\nSummary message posted in the channel:")
    for line in _block_lines(blocks):
        click.echo(f"  │ {script.seen(line)}")
    files = {f["name"]: f for f in api.uploaded_files.values()}
    markdown = next(f["bytes"].decode() for name, f in files.items() if name.endswith(".md"))
    click.echo(f"\nFiles uploaded: {', '.join(sorted(files))}; canvas created: {', '.join(api.canvases) or 'none'}")
    click.echo(f"\nStart of the draft ({len(markdown.splitlines())} lines in all):")
    for line in markdown.splitlines()[:draft_lines]:
        click.echo(f"  {line}")
    if len(markdown.splitlines()) > draft_lines:
        click.echo("  …")
    return markdown


def play_followups(script: DemoScript, runtime, api: FakeSlackWebAPI) -> None:
    """An action item from the incident, its reminder DM arriving on time, and Done clicked on it."""
    from sqlalchemy import select

    from bot.models import ActionItem, OutboxItem
    from bot.slack.blocks import followups as fb

    owner, dm = "U0CHI", "DU0CHI"
    script.command("U0ANN", f"action Alert on DB connection pool saturation <@{owner}|chi> due tomorrow p1")
    with runtime.app.scribe.session_factory() as session:
        item = session.scalars(select(ActionItem).order_by(ActionItem.id.desc()).limit(1)).one()
        first = session.scalars(
            select(OutboxItem).where(OutboxItem.action_item_id == item.id, OutboxItem.status == "pending").order_by(OutboxItem.due_at).limit(1)
        ).one()
    local = first.due_at.astimezone(ZoneInfo("Asia/Tokyo"))
    click.echo(f"\n(the clock jumps to {_hhmm(first.due_at)}, {local:%H:%M} in Tokyo where Chi is)")
    script.clock.set(first.due_at.timestamp())
    runtime.outbox.run_due()
    message = api.workspace.messages(dm)[-1]
    buttons = [e.get("text", {}).get("text") or "Reassign (user picker)" for e in message["blocks"][-1]["elements"]]
    click.echo(f"  DM to Chi: {script.seen(message['text'])}")
    click.echo(f"             buttons: {' | '.join(buttons)}")

    posted_before = len(api.calls_to("chat.postMessage"))
    script.player.click(owner, dm, action_id=fb.DONE, value=str(item.id), block_id=fb.block_id(item.id), message_ts=message["ts"])
    click.echo(f"  {script.now():%H:%M} <{script.name(owner)}> clicks Done")
    api.wait_for(lambda a: len(a.calls_to("chat.postMessage")) > posted_before and a.calls_to("chat.update"))
    click.echo(f"  DM is now: {script.seen(_message(api.workspace, dm, message['ts'])['text'])}")
    click.echo(f"  #inc-checkout-502: {script.seen(api.workspace.messages(CHANNEL)[-1]['text'])}")
    with runtime.app.scribe.session_factory() as session:
        left = session.scalars(select(OutboxItem.kind).where(OutboxItem.action_item_id == item.id, OutboxItem.status == "pending")).all()
    click.echo(f"  Reminders still pending for #{item.id}: {len(left)}")


GENERAL = "C0GENERAL"
ANNOUNCE = "C0ANNOUNCE"
# The exported timeline's text column, in terminal cells: rows stay within 120 in all.
TIMELINE_TEXT_CELLS = 60


def timeline_table(timeline: list[dict], script: DemoScript) -> list[str]:
    """The export's timeline as a table whose columns line up in a terminal: times to the
    second (UTC), names, text as the channel shows it, cut with … to fit."""
    rows = [("time (UTC)", "", "kind", "source", "author", "text")]
    for item in timeline:
        at = datetime.fromisoformat(item["at"]).strftime("%Y-%m-%d %H:%M:%S")
        text = " ".join(script.seen(item["text"] or "").split())
        rows.append((at, "📌" if item["key"] else "", item["kind"], item["source"], script.name(item["author"]) if item["author"] else "-",
                     cut(text, TIMELINE_TEXT_CELLS)))
    widths = [max(cells(row[column]) for row in rows) for column in range(5)]
    # The sixth column, the text, is not padded: zip stops at the five widths.
    return [("  ".join(pad(value, width) for value, width in zip(row, widths, strict=False)) + "  " + row[5]).rstrip() for row in rows]


def play_declare(script: DemoScript, api: FakeSlackWebAPI) -> None:
    """A declare from #general: its own channel, people invited, the announcement kept true."""
    ws = api.workspace
    player = script.player
    text = "declare Search returns no results sev3 <@U0BOB|bob>"
    ack = player.command("U0ANN", GENERAL, text).json()
    click.echo(f"  {script.now():%H:%M} <ann> in #general: /incident {script.seen(text)}")
    click.echo(f"         ↳ (only Ann sees) {first_line(script.seen(ack['text']))}")
    reply = api.wait_for(lambda a: [e for e in a.ephemerals if "declared" in str(e["message"].get("text"))], timeout=30)
    click.echo(f"         ↳ (only Ann sees) {first_line(script.seen(reply[0]['message']['text']))}")
    channel = next(c for c in ws.channels.values() if c.creator == ws.bot_user_id)
    members = ", ".join(sorted(script.name(m) for m in channel.members))
    click.echo(f"  New channel #{channel.name}: members {members}; topic “{script.seen(channel.topic)}”")
    welcome = ws.messages(channel.id)[0]
    click.echo(f"  Welcome message in #{channel.name}: {first_line(script.seen(chr(10).join(_block_lines(welcome['blocks']))))}")
    ref = reply[0]["message"]["text"].split("*")[1].split()[0]  # "INC-2"
    announcement = next(m for m in ws.messages(ANNOUNCE) if m.get("user") == ws.bot_user_id and m.get("text", "").startswith(ref + " "))

    def show_announcement(when: str) -> None:
        current = _message(ws, ANNOUNCE, announcement["ts"])
        fields = [script.seen(f["text"].replace("\n", ": ")) for f in current["blocks"][1]["fields"]]
        click.echo(f"  #incidents announcement {when}: {script.seen(current['blocks'][0]['text']['text'])}")
        click.echo(f"             {' · '.join(fields)}")
        click.echo(f"             {_block_lines(current['blocks'][-1:])[0]}")

    show_announcement("(posted once)")
    script.wait(12)
    updates = len(api.calls_to("chat.update"))
    player.command("U0BOB", channel.id, "severity sev2")
    click.echo(f"  {script.now():%H:%M} <bob> in #{channel.name}: /incident severity sev2")
    api.wait_for(lambda a: len(a.calls_to("chat.update")) > updates and "sev2" in str(_message(ws, ANNOUNCE, announcement["ts"])["blocks"]))
    show_announcement("(edited with chat.update)")
    script.wait(20)
    player.command("U0ANN", channel.id, "resolved index rebuilt")
    click.echo(f"  {script.now():%H:%M} <ann> in #{channel.name}: /incident resolved index rebuilt")
    thread = api.wait_for(lambda a: ws.replies(ANNOUNCE, announcement["ts"])[1:], timeout=30)
    click.echo(f"  Closing line, in #{channel.name} and under the announcement: {script.seen(thread[0]['text'])}")


def run_demo(*, keep: bool = False) -> int:
    from bot.runtime import Runtime
    from bot.services.export import export_incident
    from bot.services.incidents import latest_incident

    workdir = Path(tempfile.mkdtemp(prefix="scribe-demo-"))
    clock = FakeClock(start=(datetime.now(UTC) - timedelta(hours=2)).timestamp())
    workspace = Workspace(clock=clock)
    workspace.add_user("U0ANN", name="ann", real_name="Ann Lee", tz="Europe/Berlin")
    workspace.add_user("U0BOB", name="bob", real_name="Bob Stone", tz="America/New_York")
    workspace.add_user("U0CHI", name="chi", real_name="Chi Okafor", tz="Asia/Tokyo")
    workspace.add_channel(CHANNEL, name="inc-checkout-502")
    workspace.add_channel(GENERAL, name="general", members={"U0ANN", "U0BOB", "U0CHI"})
    workspace.add_channel(ANNOUNCE, name="incidents")
    api = FakeSlackWebAPI(workspace).start()
    settings = Settings(
        slack_bot_token=workspace.bot_token,
        slack_signing_secret=SIGNING_SECRET,
        database_url=f"sqlite:///{workdir / 'scribe.db'}",
        slack_api_url=api.base_url,
        port=0,
        scheduler_enabled=False,
        announce_channel="#incidents",
    )
    runtime = Runtime.start(
        settings,
        clock=lambda: datetime.fromtimestamp(clock(), UTC),
        host="127.0.0.1",
        port=0,
        background=True,
        history_pause=lambda: None,
    )
    try:
        click.echo(f"Incident Scribe demo: app on {runtime.url}, Slack simulator on {api.base_url}, database in {workdir}")
        click.echo("\n#inc-checkout-502, replayed:")
        player = SlackPlayer(workspace, api, app_url=runtime.url, signing_secret=SIGNING_SECRET)
        # Each step waits for what the app does after answering it (its outbox), so the
        # transcript shows things in the order they happen.
        player.after_request = lambda: runtime.scribe.settle(timeout=30)
        script = DemoScript(player, clock)

        def deliver_nudges() -> None:
            assert runtime.outbox is not None
            report = runtime.outbox.run_due()
            click.echo(f"  {script.now():%H:%M} (the reminder poller runs: {report.sent} nudge sent)")
            if report.sent:
                script.show_last_bot_post()

        play_incident(script, deliver_nudges)
        play_curation(script, runtime, api)
        play_postmortem(script, api)
        click.echo("\nFollow-ups:")
        play_followups(script, runtime, api)
        click.echo("\nDeclaring an incident from #general:")
        play_declare(script, api)

        with runtime.app.scribe.session_factory() as session:  # type: ignore[attr-defined]
            incident = latest_incident(session, channel_id=CHANNEL)
            assert incident is not None
            data = export_incident(session, incident)
        click.echo(f"\nExported timeline (scribe export --channel {CHANNEL}):")
        for line in timeline_table(data["timeline"], script):
            click.echo(f"  {line}")
        click.echo("\nMetrics:")
        click.echo(json.dumps(data["metrics"], indent=2))
        click.echo(f"\nSlack Web API calls the app made: {', '.join(sorted({c.method for c in api.calls}))}")
        return 0
    finally:
        runtime.stop()
        api.stop()
        if keep:
            click.echo(f"Demo database kept at {workdir / 'scribe.db'}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
