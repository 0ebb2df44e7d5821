"""readable_text and links_of over the shapes Slack and common integrations really send.

Payloads follow Slack's documentation (message event, legacy attachments, Block Kit and
rich_text reference) and what the named integrations post: PagerDuty and Opsgenie
(legacy attachments with fields), Datadog and Sentry (Slack apps posting blocks with a
fallback `text`), Grafana (attachment with a rendered graph in image_url), a deploy bot
(header + section fields), GitHub's classic integration (from tests/fixtures/slack-export).
"""

from __future__ import annotations

import time

import pytest

from bot.slack.message_text import MAX_CHARS, links_of, readable_text
from bot.slack.payloads import author_name_of, captured_message, files_of

PAGERDUTY = {
    "type": "message", "subtype": "bot_message", "text": "", "bot_id": "B0PAGERDUTY", "username": "PagerDuty",
    "ts": "1795000000.000100",
    "attachments": [{
        "fallback": "Triggered #1234: checkout error rate > 5%",
        "color": "#E01E5A",
        "title": "#1234: checkout error rate &gt; 5%",
        "title_link": "https://acme.pagerduty.com/incidents/PXYZ123",
        "fields": [
            {"title": "Status", "value": "Triggered", "short": True},
            {"title": "Urgency", "value": "High", "short": True},
            {"title": "Service", "value": "<https://acme.pagerduty.com/services/PSVC1|checkout>", "short": True},
        ],
        "mrkdwn_in": ["text", "fields"],
    }],
}

OPSGENIE = {
    "type": "message", "subtype": "bot_message", "text": "", "bot_id": "B0OPSGENIE", "username": "Opsgenie",
    "ts": "1795000000.000200",
    "attachments": [{
        "fallback": "New alert: \"CPU load high on web-1\" [P1]",
        "pretext": "New alert created",
        "title": "#42: CPU load high on web-1",
        "title_link": "https://acme.app.opsgenie.com/alert/detail/6f1c/details",
        "text": "Tags: prod, web",
        "fields": [{"title": "Priority", "value": "P1", "short": True}, {"title": "Source", "value": "Datadog", "short": True}],
        "color": "#E01E5A",
    }],
}

DATADOG = {
    "type": "message", "text": "[Triggered] High error rate on checkout", "user": "U0DDBOT", "bot_id": "B0DATADOG",
    "app_id": "A0DATADOG", "ts": "1795000000.000300", "team": "T0SIM",
    "bot_profile": {"id": "B0DATADOG", "name": "Datadog", "app_id": "A0DATADOG", "deleted": False, "team_id": "T0SIM"},
    "blocks": [
        {"type": "section", "block_id": "a1", "text": {
            "type": "mrkdwn",
            "text": "*<https://app.datadoghq.com/monitors/123|[Triggered] High error rate on checkout>*\nerror rate is 7.2% (threshold 5%)",
        }},
        {"type": "context", "block_id": "a2", "elements": [{"type": "mrkdwn", "text": "env:prod · service:checkout"}]},
        {"type": "actions", "block_id": "a3", "elements": [{"type": "button", "action_id": "mute", "text": {"type": "plain_text", "text": "Mute"}}]},
    ],
}

GRAFANA = {
    "type": "message", "subtype": "bot_message", "text": "", "bot_id": "B0GRAFANA", "username": "Grafana",
    "ts": "1795000000.000400",
    "attachments": [{
        "color": "#D63232",
        "title": "[Alerting] Checkout latency",
        "title_link": "https://grafana.example.com/d/abc/checkout?orgId=1",
        "text": "p99 latency above 2s for 5m",
        "fields": [{"title": "p99", "value": "2.4s", "short": True}],
        "image_url": "https://grafana.example.com/render/d-solo/abc/checkout.png",
        "footer": "Grafana v10.2.0",
        "fallback": "[Alerting] Checkout latency",
    }],
}

SENTRY = {
    "type": "message", "text": "TypeError: Cannot read properties of undefined (reading 'total')", "bot_id": "B0SENTRY",
    "app_id": "A0SENTRY", "ts": "1795000000.000500",
    "bot_profile": {"id": "B0SENTRY", "name": "Sentry", "app_id": "A0SENTRY"},
    "blocks": [
        {"type": "section", "text": {
            "type": "mrkdwn", "text": "*<https://acme.sentry.io/issues/4711/|TypeError: Cannot read properties of undefined (reading 'total')>*",
        }},
        {"type": "section", "text": {"type": "mrkdwn", "text": "```checkout/cart.js in handleSubmit```"}},
        {"type": "context", "elements": [
            {"type": "mrkdwn", "text": "State: *New*   First Seen: 2 minutes ago"},
            {"type": "image", "image_url": "https://x/icon.png", "alt_text": "sentry"},
        ]},
        {"type": "actions", "elements": [{"type": "button", "text": {"type": "plain_text", "text": "Resolve"}, "action_id": "resolve"}]},
    ],
}

DEPLOY_BOT = {
    "type": "message", "text": "Deploy finished: checkout v2.3.1", "bot_id": "B0DEPLOY", "ts": "1795000000.000600",
    "bot_profile": {"id": "B0DEPLOY", "name": "Deploy Bot", "app_id": "A0DEPLOY"},
    "blocks": [
        {"type": "header", "text": {"type": "plain_text", "text": "Deploy finished", "emoji": True}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": "*Service:*\ncheckout"}, {"type": "mrkdwn", "text": "*Version:*\nv2.3.1"}]},
        {"type": "divider"},
        {"type": "section", "text": {"type": "mrkdwn", "text": "Rolled out by <@U0ANN>"},
         "accessory": {"type": "button", "text": {"type": "plain_text", "text": "Open run"}, "url": "https://ci.example.com/runs/88"}},
    ],
}

# From tests/fixtures/slack-export/enrique/2016-02-07.json (GitHub's classic integration).
GITHUB = {
    "text": "", "bot_id": "B0JL6RASU", "type": "message", "subtype": "bot_message", "ts": "1454892394.000004",
    "attachments": [{
        "fallback": "[enrique:master] <https://github.com/mesos-magellan/enrique/commit/ed1acbe|1 new commit> by Anthony Bilinski",
        "text": "<https://github.com/mesos-magellan/enrique/commit/ed1acbe|ed1acbe>: executor with simulated annealing rough draft - Anthony Bilinski",
        "pretext": "[enrique:master] 1 new commit by Anthony Bilinski:", "id": 1, "color": "4183C4", "mrkdwn_in": ["text", "pretext"],
    }],
}

# What a Slack client sends for a typed message: text plus the same words as rich_text.
HUMAN_RICH = {
    "type": "message", "user": "U0ANN", "ts": "1795000000.000700", "client_msg_id": "x",
    "text": "Rolling back *now*, see <https://status.example.com|status> cc <@U0BOB> :rotating_light:",
    "blocks": [{"type": "rich_text", "block_id": "r", "elements": [{"type": "rich_text_section", "elements": [
        {"type": "text", "text": "Rolling back "}, {"type": "text", "text": "now", "style": {"bold": True}},
        {"type": "text", "text": ", see "}, {"type": "link", "url": "https://status.example.com", "text": "status"},
        {"type": "text", "text": " cc "}, {"type": "user", "user_id": "U0BOB"}, {"type": "text", "text": " "},
        {"type": "emoji", "name": "rotating_light", "unicode": "1f6a8"},
    ]}]}],
}

# The rich_text example of Slack's Block Kit reference: lists, quote, preformatted code.
RICH_ONLY = {
    "type": "message", "bot_id": "B0RUNBOOK", "username": "Runbook", "text": "", "ts": "1795000000.000800",
    "blocks": [{"type": "rich_text", "elements": [
        {"type": "rich_text_section", "elements": [
            {"type": "text", "text": "Steps for "}, {"type": "channel", "channel_id": "C0INC"}, {"type": "text", "text": ":"},
        ]},
        {"type": "rich_text_list", "style": "ordered", "indent": 0, "elements": [
            {"type": "rich_text_section", "elements": [{"type": "text", "text": "drain web-1"}]},
            {"type": "rich_text_section", "elements": [{"type": "text", "text": "roll back"}]},
        ]},
        {"type": "rich_text_list", "style": "bullet", "indent": 1, "elements": [
            {"type": "rich_text_section", "elements": [{"type": "text", "text": "watch <errors> & latency"}]},
        ]},
        {"type": "rich_text_quote", "elements": [{"type": "text", "text": "never skip the canary"}]},
        {"type": "rich_text_preformatted", "elements": [{"type": "text", "text": "kubectl rollout undo deploy/checkout"}]},
        {"type": "rich_text_section", "elements": [{"type": "broadcast", "range": "here"}, {"type": "text", "text": " done", "style": {"code": True}}]},
    ]}],
}

# Slack's unfurl of a pasted Grafana link (from_url/original_url) and a GitHub one.
PASTED_GRAPH = {
    "type": "message", "user": "U0CHI", "ts": "1795000000.000900",
    "text": "look at <https://grafana.example.com/d/abc/checkout?viewPanel=2>",
    "attachments": [{
        "id": 1, "from_url": "https://grafana.example.com/d/abc/checkout?viewPanel=2",
        "original_url": "https://grafana.example.com/d/abc/checkout?viewPanel=2",
        "service_name": "Grafana", "title": "Checkout dashboard", "title_link": "https://grafana.example.com/d/abc/checkout?viewPanel=2",
        "text": "Latency and errors for the checkout service",
        "image_url": "https://grafana.example.com/render/abc.png", "image_width": 1000, "image_height": 500,
        "fallback": "Grafana: Checkout dashboard",
    }],
}


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        pytest.param(PAGERDUTY, "<https://acme.pagerduty.com/incidents/PXYZ123|#1234: checkout error rate &gt; 5%>\n"
                     "Status: Triggered\nUrgency: High\nService: <https://acme.pagerduty.com/services/PSVC1|checkout>", id="pagerduty"),
        pytest.param(OPSGENIE, "New alert created\n<https://acme.app.opsgenie.com/alert/detail/6f1c/details|#42: CPU load high on web-1>\n"
                     "Tags: prod, web\nPriority: P1\nSource: Datadog", id="opsgenie"),
        pytest.param(DATADOG, "*<https://app.datadoghq.com/monitors/123|[Triggered] High error rate on checkout>*\n"
                     "error rate is 7.2% (threshold 5%)\nenv:prod · service:checkout", id="datadog-blocks-text-once"),
        pytest.param(GRAFANA, "<https://grafana.example.com/d/abc/checkout?orgId=1|[Alerting] Checkout latency>\n"
                     "p99 latency above 2s for 5m\np99: 2.4s", id="grafana"),
        pytest.param(SENTRY, "*<https://acme.sentry.io/issues/4711/|TypeError: Cannot read properties of undefined (reading 'total')>*\n"
                     "```checkout/cart.js in handleSubmit```\nState: *New*   First Seen: 2 minutes ago sentry", id="sentry"),
        pytest.param(DEPLOY_BOT, "Deploy finished\n*Service:*\ncheckout\n*Version:*\nv2.3.1\nRolled out by <@U0ANN>\n"
                     "<https://ci.example.com/runs/88|Open run>", id="deploy-bot"),
        pytest.param(GITHUB, "[enrique:master] 1 new commit by Anthony Bilinski:\n<https://github.com/mesos-magellan/enrique/commit/ed1acbe|ed1acbe>: "
                     "executor with simulated annealing rough draft - Anthony Bilinski", id="github-classic"),
        pytest.param(HUMAN_RICH, HUMAN_RICH["text"], id="person-text-and-rich-text-once"),
        pytest.param({**HUMAN_RICH, "bot_id": "B0RELAY"}, HUMAN_RICH["text"], id="bot-text-and-same-rich-text-once"),
        pytest.param({**HUMAN_RICH, "text": ""}, "Rolling back now, see <https://status.example.com|status> cc <@U0BOB> :rotating_light:",
                     id="rich-text-without-text"),
        pytest.param(RICH_ONLY, "Steps for <#C0INC>:\n1. drain web-1\n2. roll back\n    • watch &lt;errors&gt; &amp; latency\n"
                     "> never skip the canary\n```kubectl rollout undo deploy/checkout```\n<!here> `done`", id="rich-text-lists-quote-code"),
        pytest.param(PASTED_GRAPH, PASTED_GRAPH["text"], id="unfurl-is-not-text"),
        pytest.param({"text": "short", "attachments": [{"fallback": "only a fallback here"}]}, "short\nonly a fallback here", id="fallback-only-alone"),
        pytest.param({"text": "Deploy done", "attachments": [{"pretext": "Deploy done", "text": "checkout v2.3.1"}]},
                     "Deploy done\ncheckout v2.3.1", id="text-repeated-in-attachment-once"),
        pytest.param({"text": "Heads up: v2.3.1 is rolling out", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Canary at 5%"}}]},
                     "Heads up: v2.3.1 is rolling out\nCanary at 5%", id="short-text-plus-different-blocks"),
    ],
)
def test_readable_text_of_real_payloads(message: dict, expected: str) -> None:
    assert readable_text(message) == expected


@pytest.mark.parametrize(
    "message",
    [
        None, "text", 5, [], {}, {"text": None}, {"text": 5, "attachments": "oops", "blocks": {"type": "section"}},
        {"attachments": [None, 5, "x", {"fields": "x", "title": 7}, {"fields": [None, {"title": 3, "value": []}]}]},
        {"blocks": [None, 3, {"type": "section", "text": 5, "fields": "x"}, {"type": "rich_text", "elements": "x"},
                    {"type": "rich_text", "elements": [{"type": "rich_text_list", "elements": 4, "indent": "deep"}]},
                    {"type": "header"}, {"type": "context", "elements": [None, {"type": "mrkdwn"}]}]},
    ],
)
def test_malformed_input_never_raises(message: object) -> None:
    assert readable_text(message) == ""
    assert links_of(message) == ()


def test_malformed_parts_keep_what_is_readable() -> None:
    message = {
        "text": "",
        "attachments": [None, {"title": 5, "text": "db pool exhausted", "fields": [{"title": "host"}, "bad"]}],
        "blocks": [{"type": "future_block_type", "text": {"type": "mrkdwn", "text": "new kind of block"}},
                   {"type": "section", "text": {"type": "plain_text", "text": "a < b"}}, {"type": "image", "alt_text": "graph of errors"}],
    }
    assert readable_text(message) == "db pool exhausted\nhost\nnew kind of block\na &lt; b\ngraph of errors"


def test_deeply_nested_rich_text_is_bounded() -> None:
    inner: dict = {"type": "rich_text_section", "elements": [{"type": "text", "text": "deepest"}]}
    for _ in range(300):
        inner = {"type": "rich_text_list", "style": "bullet", "elements": [inner]}
    message = {"blocks": [{"type": "rich_text", "elements": [{"type": "rich_text_section", "elements": [{"type": "text", "text": "top"}]}, inner]}]}
    assert readable_text(message) == "top"


def test_fifty_blocks_of_three_thousand_characters_are_cut_at_the_limit() -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": f"{n:02d}" + "x" * 2998}} for n in range(50)]
    started = time.perf_counter()
    text = readable_text({"text": "", "blocks": blocks})
    assert time.perf_counter() - started < 1.0
    assert len(text) == MAX_CHARS and text.endswith(" …")
    assert text.startswith("00xxx") and "\n13xxx" in text


def test_links_of_unfurls_and_graph_images() -> None:
    assert links_of(PASTED_GRAPH) == ({
        "url": "https://grafana.example.com/d/abc/checkout?viewPanel=2", "title": "Checkout dashboard",
        "image_url": "https://grafana.example.com/render/abc.png",
    },)
    assert links_of(GRAFANA) == ({"url": "https://grafana.example.com/render/d-solo/abc/checkout.png", "title": "[Alerting] Checkout latency"},)
    assert links_of(PAGERDUTY) == ()
    assert links_of({"attachments": [{"from_url": "javascript:alert(1)"}, {"image_url": "ftp://x"}]}) == ()


def test_author_names_of_integrations_and_people() -> None:
    assert author_name_of(PAGERDUTY) == "PagerDuty"
    assert author_name_of(DATADOG) == "Datadog"
    assert author_name_of({**DEPLOY_BOT, "username": "deploys"}) == "deploys"
    assert author_name_of(GITHUB) is None  # no name given: the bot id stays the label
    assert author_name_of(HUMAN_RICH) is None
    captured = captured_message(DATADOG, channel_id="C0INC")
    assert (captured.author, captured.author_name) == ("U0DDBOT", "Datadog")
    assert captured_message(PAGERDUTY, channel_id="C0INC").author == "B0PAGERDUTY"


def test_files_keep_name_type_and_permalink() -> None:
    message = {"files": [
        {"id": "F1", "name": "latency.png", "title": "Latency p99", "mimetype": "image/png", "filetype": "png",
         "permalink": "https://acme.slack.com/files/U0CHI/F1/latency.png", "url_private": "https://files.slack.com/secret"},
        {"id": "F2", "mode": "tombstone"},
        {"id": "F3", "mode": "hidden_by_limit"},
    ]}
    assert files_of(message) == (
        {"name": "latency.png", "permalink": "https://acme.slack.com/files/U0CHI/F1/latency.png", "title": "Latency p99",
         "mimetype": "image/png", "filetype": "png"},
        {"name": "file", "permalink": None},
    )


def test_own_text_is_kept_whole_and_only_what_is_read_from_blocks_is_cut() -> None:
    own = "z" * 50_000
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": f"{n:02d}" + "x" * 2998}} for n in range(50)]
    text = readable_text({"text": own, "blocks": blocks})
    head, derived = text.split("\n", 1)
    assert head == own and len(derived) == MAX_CHARS and derived.endswith(" …")
