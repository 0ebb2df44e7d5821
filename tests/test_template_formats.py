"""Each built-in template covers the sections of the format it follows
(five real postmortem formats we studied), in its own words, with prompts where people must write."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

import pytest

from bot.postmortem import ReviewFields, build_context, make_environment, render_postmortem
from tests.test_render import GENERATED, NAMES, assert_no_empty_headings, incident, small_entries

SECTIONS = {
    "standard": ["Summary in plain language", "Incident overview", "Impact", "Business impact", "System impact", "Timeline",
                 "Root cause", "Trigger", "Detection", "Resolution", "Contributing factors", "What went right", "Action items",
                 "Lessons learned", "Where we got lucky", "Supporting information", "Assumptions", "Failure modes",
                 "How to verify", "Related documentation", "Postmortem meeting", "A note on blamelessness", "Sign-off",
                 "Appendix: communication log"],
    "comprehensive": ["Executive summary", "Impact", "Timeline of key events", "Immediate cause", "Contributing factors",
                      "Root cause", "Causal chain", "Protective factors", "Vulnerabilities", "Response evaluation",
                      "What could be improved", "Prevention and remediation", "Risks accepted", "Lessons learned",
                      "Assumptions that did not hold", "Knowledge gaps", "Cross-reference updates", "Follow-up",
                      "Appendix A: communication log", "Appendix B: metrics and dashboards", "Appendix C: related incidents and references"],
    "concise": ["Summary", "Impact", "Timeline (UTC)", "Root cause", "Contributing factors", "What went well", "What went wrong",
                "Action items", "Lessons learned", "Prevention", "Related incidents", "Appendix", "Communication log"],
    "sre-five-whys": ["Summary", "Impact", "Timeline", "What happened", "Contributing factors", "Five whys", "What went well",
                      "What could be improved", "Action items", "Lessons learned", "Appendix", "Communication log"],
    "executive": ["Executive summary", "Incident details", "Detection", "Timeline", "Five whys", "Contributing factors",
                  "Impact assessment", "Business impact", "SLO impact", "Resolution", "Action items", "Lessons learned",
                  "Prevention", "References", "Review and sign-off", "Appendix: communication log"],
}


@pytest.mark.parametrize("name", sorted(SECTIONS))
def test_template_has_the_formats_sections_and_no_empty_heading(name: str) -> None:
    ctx = build_context(incident(), small_entries(), [], ReviewFields(), user_name=NAMES.get, generated_at=GENERATED, display_tz=ZoneInfo("UTC"))
    markdown = render_postmortem(ctx, name, make_environment())
    headings = [re.sub(r"^#+\s*", "", line) for line in markdown.splitlines() if line.startswith("#")]
    missing = [s for s in SECTIONS[name] if s not in headings]
    assert missing == []
    assert_no_empty_headings(markdown)
