"""pyproject.toml declares its licence in the current form (PEP 639), so installing prints no
deprecation warning, and asks for a setuptools that understands that form."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_the_licence_is_an_spdx_expression_with_its_files() -> None:
    project = PYPROJECT["project"]
    # `license = { text = "MIT" }` is the deprecated table form setuptools warns about.
    assert project["license"] == "MIT"
    patterns = project["license-files"]
    assert patterns, "license-files names the licence text shipped with the package"
    for pattern in patterns:
        assert sorted(p.name for p in ROOT.glob(pattern)) != [], f"license-files pattern {pattern!r} matches no file"
    assert "MIT License" in (ROOT / "LICENSE").read_text()
    # PEP 639: a licence expression and licence classifiers must not both be given.
    assert not [c for c in project.get("classifiers", []) if c.startswith("License ::")]


def test_the_build_needs_a_setuptools_that_reads_that_form() -> None:
    requires = PYPROJECT["build-system"]["requires"]
    setuptools = [r for r in requires if re.match(r"setuptools\b", r)]
    assert len(setuptools) == 1, requires
    minimum = re.search(r">=\s*(\d+)", setuptools[0])
    assert minimum is not None and int(minimum.group(1)) >= 77, setuptools[0]  # PEP 639 support arrived in 77
