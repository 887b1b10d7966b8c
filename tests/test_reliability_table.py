"""The README's table of reliability promises and the adversarial suite stay in step."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEADING = "## Reliability promises and the tests that check them"


def table_names() -> dict[str, list[str]]:
    """promise -> the test names of its row (a node id counts by its function name)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert HEADING in text, f"the README has no section '{HEADING}'"
    section = text.split(HEADING, 1)[1].split("\n## ", 1)[0]
    rows = [ln for ln in section.splitlines() if ln.startswith("|")]
    assert rows[0].replace(" ", "") == "|promise|tests|", rows[0]
    table = {}
    for row in rows[2:]:
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", row.strip())[1:-1]]
        assert len(cells) == 2, f"a row needs two cells: {row}"
        names = [n.split("::")[-1].split("[")[0] for n in re.findall(r"`([^`]+)`", cells[1])]
        assert names, f"a promise without tests: {row}"
        table[cells[0]] = names
    return table


def adversarial_tests() -> set[str]:
    """Function names of the tests collected with the ``adversarial`` marker (pytest decides, not a regex)."""
    files = sorted(str(p) for p in (ROOT / "tests").rglob("test_*.py")
                   if p.name != Path(__file__).name
                   and ("adversarial" in p.parts or "adversarial" in p.read_text(encoding="utf-8")))
    p = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", "adversarial",
                        "-p", "no:cacheprovider", *files], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    return {ln.split("::")[-1].split("[")[0] for ln in p.stdout.splitlines() if "::" in ln}


def test_every_adversarial_test_is_in_the_table_and_every_name_in_it_exists():
    table = table_names()
    listed = {n for names in table.values() for n in names}
    collected = adversarial_tests()
    assert collected, "no test is marked adversarial"
    assert sorted(collected - listed) == [], "adversarial tests missing from the README table"
    assert sorted(listed - collected) == [], "names in the README table that are no adversarial test"
