"""Slack markup -> inert Markdown / plain text."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.markup import (
    INLINE_BREAK,
    WORD_JOINER,
    blockquote,
    neutralize_mentions,
    slack_as_seen,
    slack_to_markdown,
    slack_to_plain,
)

NAMES = {"U123": "Ann Lee", "U456": "Bob Stone"}
CHANNELS = {"C1": "incidents", "C9": "inc-42"}


def md(text: str, **kwargs: object) -> str:
    return slack_to_markdown(text, user_name=NAMES.get, channel_name=CHANNELS.get, **kwargs)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        # mentions: directory name, then the token's label, then the raw id
        ("ping <@U123> now", "ping @Ann Lee now"),
        ("ping <@U123|ann> now", "ping @Ann Lee now"),
        ("ping <@U777|carol> now", "ping @carol now"),
        ("ping <@U777> now", "ping @U777 now"),
        # channels
        ("see <#C5|general> too", "see #general too"),
        ("see <#C9> too", "see #inc-42 too"),
        ("see <#C5> too", "see #C5 too"),
        # links
        ("go <https://x.example/a|the dash>", "go [the dash](https://x.example/a)"),
        ("go <https://x.example/a>", "go <https://x.example/a>"),
        ("mail <mailto:a@b.io|a@b.io>", "mail [a@b.io](mailto:a@b.io)"),
        ("mail <mailto:a@b.io>", "mail <mailto:a@b.io>"),
        ("q <https://x.io/?a=1&amp;b=2|q>", "q [q](https://x.io/?a=1&b=2)"),
        ("lbl <https://x.io|*bold* [x]>", "lbl [\\*bold\\* \\[x\\]](https://x.io)"),
        ("paren <https://x.io/a_(b)|w>", "paren [w](https://x.io/a_%28b%29)"),
        # broadcasts are plain text
        ("hey <!here>", "hey @here"),
        ("hey <!channel>", "hey @channel"),
        ("hey <!everyone>", "hey @everyone"),
        ("hey <!here|here>", "hey @here"),
        ("hey <!subteam^S1|@team>", "hey @team"),
        ("on <!date^1392734382^{date}|Feb 18, 2014>", "on Feb 18, 2014"),
        # entities
        ("a &amp; b", "a & b"),
        ("x &lt; y &gt; z", "x \\< y \\> z"),
        ("literally &amp;lt;", "literally \\&lt;"),
        # emoji untouched
        (":white_check_mark: done :+1:", ":white_check_mark: done :+1:"),
        # block markers at line start are neutralised
        ("# not a heading", "\\# not a heading"),
        ("## two", "\\## two"),
        ("> not a quote", "\\> not a quote"),
        ("- not a bullet", "\\- not a bullet"),
        ("+ not a bullet", "\\+ not a bullet"),
        ("* not a bullet", "\\* not a bullet"),
        ("1. not a list", "1\\. not a list"),
        ("12) not a list", "12\\) not a list"),
        ("---", "\\---"),
        ("    indented code", "indented code"),
        ("<#C5|general> at start", "\\#general at start"),
        # inline syntax typed by users stays literal
        ("a | b | c", "a \\| b \\| c"),
        ("run `rm -rf`", "run \\`rm -rf\\`"),
        ("[x](javascript:alert(1))", "\\[x\\](javascript:alert(1))"),
        ("*bold* _it_ ~st~", "\\*bold\\* \\_it\\_ \\~st\\~"),
        ("snake_case stays", "snake_case stays"),
        ("costs $5 and $6", "costs \\$5 and \\$6"),
        ("&lt;script&gt;alert(1)&lt;/script&gt;", "\\<script\\>alert(1)\\</script\\>"),
        ("&lt;!channel&gt;", "\\<!channel\\>"),
        ("back\\slash", "back\\\\slash"),
        ("&amp;copy; typed", "\\&copy; typed"),
        # links with schemes we do not allow keep only their words
        ("<javascript:alert(1)|click me>", "click me"),
        ("<data:text/html,hi>", "data:text/html,hi"),
        # a stray angle bracket (e.g. from a modal) is just text
        ("<b>bold</b>", "\\<b\\>bold\\</b\\>"),
        ("a <unclosed", "a \\<unclosed"),
        ("", ""),
    ],
)
def test_conversion_table(source: str, expected: str) -> None:
    assert md(source) == expected


def test_inline_mode_joins_lines_with_the_documented_marker() -> None:
    assert INLINE_BREAK == " ⏎ "
    assert md("first\n\n# second\r\nthird") == "first ⏎ # second ⏎ third"
    assert "\n" not in md("a\u2028b\x0cc\rd")


def test_block_mode_keeps_breaks_and_escapes_every_line() -> None:
    out = md("first\n# second\n\n\n- third\n===", inline=False)
    assert out == "first\\\n\\# second\n\n\\- third\\\n\\==="


def test_blockquote_prefixes_every_line() -> None:
    assert blockquote(md("a\n\nb", inline=False)) == "> a\n>\n> b"


def test_table_cell_cannot_be_split() -> None:
    row = f"| {md('x | y')} | {md('<https://e.io/a|b|c>')} |"
    # Only the cell delimiters we wrote are unescaped pipes.
    assert len(re.findall(r"(?<!\\)\|", row)) == 3


def test_link_url_is_percent_encoded_not_escaped() -> None:
    assert md("<https://e.io/a b|x>") == "[x](https://e.io/a%20b)"
    assert md("<https://e.io/a|b>") == "[b](https://e.io/a)"
    assert md("<https://e.io/?q=a%7Cb>") == "<https://e.io/?q=a%7Cb>"


def test_user_name_lookup_failure_falls_back() -> None:
    def broken(_: str) -> str | None:
        raise RuntimeError("directory down")

    assert slack_to_markdown("<@U1|ann>", user_name=broken) == "@ann"


def test_names_from_profiles_are_escaped() -> None:
    out = slack_to_markdown("<@U1>", user_name=lambda _: "[evil](javascript:x)\n# h")
    assert out == "@\\[evil\\](javascript:x) # h"


def test_plain_text_for_block_kit() -> None:
    text = "<!here> <@U123> fixed <https://e.io|it> &lt;b&gt; <#C9> <!subteam^S1|@sre>"
    out = slack_to_plain(text, NAMES.get, CHANNELS.get)
    assert out == (f"@{WORD_JOINER}here @Ann Lee fixed it (https://e.io) <b> #inc-42 "
                   f"@{WORD_JOINER}sre")
    assert "<@" not in out and "<!" not in out


def test_plain_text_defuses_typed_markup_and_literal_broadcasts() -> None:
    out = slack_to_plain("&lt;!channel&gt; and &lt;@U123&gt; and @everyone", NAMES.get)
    assert "<!" not in out and "<@" not in out
    assert f"@{WORD_JOINER}everyone" in out


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("error rate &gt; 5% &amp; &lt;b&gt; rising", "error rate > 5% & <b> rising"),
        ("<@U123> is lead, <@U999|zed> and <@U777> too", "@Ann Lee is lead, @zed and @U777 too"),
        ("see <#C9>, <#C5|general> and <#C6>", "see #inc-42, #general and #C6"),
        ("<https://grafana.example.com/d/1?a=1&amp;b=2|the dashboard> or <https://status.example.com>",
         "the dashboard or https://status.example.com"),
        ("<mailto:oncall@example.com|mail on-call>, <mailto:sre@example.com>", "mail on-call, sre@example.com"),
        ("<!here> <!channel> <!subteam^S1|@sre> at <!date^1700000000^{time}|10:00>", "@here @channel @sre at 10:00"),
        ("first line\nsecond &gt; line", "first line\nsecond > line"),
    ],
)
def test_as_seen_in_slack(source: str, expected: str) -> None:
    assert slack_as_seen(source, user_name=NAMES.get, channel_name=CHANNELS.get) == expected


def test_neutralize_mentions_keeps_mrkdwn_but_never_pings() -> None:
    text = "<!channel> <@U123> see <https://e.io|dash> in <#C1> &lt;ok&gt; @here"
    out = neutralize_mentions(text, user_name=NAMES.get)
    assert out == (f"@{WORD_JOINER}channel @Ann Lee see <https://e.io|dash> in <#C1> "
                   f"&lt;ok&gt; @{WORD_JOINER}here")
    assert neutralize_mentions("<@U9|zed>") == "@zed"
    assert neutralize_mentions("") == ""


_LIVE_BROADCAST = re.compile(r"(?<!\\)<!")
# Fragments that exercise the parser: Slack tokens, entities and every
# Markdown-significant character, glued together in random order.
_FRAGMENTS = [
    *list("<>@#!|&;:*_`[]()-+=.1 \n\t\\~$^Uhtps:/ab\u2028é"),
    "&lt;", "&gt;", "&amp;", "<!here>", "<!channel|channel>", "<@U123>", "<#C1|x>", "<https://e.io|l>", "<javascript:x|y>",
    "# ", "> ", "1. ", "```",
]
_slackish = st.lists(st.sampled_from(_FRAGMENTS), max_size=40).map("".join)


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(max_size=120), _slackish), st.booleans())
def test_property_never_structural_or_live(text: str, inline: bool) -> None:
    out = md(text, inline=inline)
    assert isinstance(out, str)
    for line in out.split("\n"):
        assert not line.lstrip(" ").startswith("#")
        assert not line.lstrip(" ").startswith(">")
    assert not _LIVE_BROADCAST.search(out)
    # Every unescaped "<" must be an autolink we built from a Slack token.
    for match in re.finditer(r"(?<!\\)<", out):
        assert re.match(r"<(https?|mailto):[^\s<>]*>", out[match.start():])
    if inline:
        assert "\n" not in out and "\r" not in out


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=80), _slackish))
def test_property_plain_and_neutralized_never_ping(text: str) -> None:
    plain = slack_to_plain(text, NAMES.get)
    assert "<!" not in plain and "<@" not in plain
    assert not re.search(r"@(here|channel|everyone)\b", plain, re.IGNORECASE)
    echoed = neutralize_mentions(text)
    assert not re.search(r"<[!@]", echoed)
