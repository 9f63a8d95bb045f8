"""The README's promises a user copies: the "use as a dlt source" code runs as written and loads what
the export holds, and no link in the README or docs/ points at a file or heading that is not there."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pytest

from tiktok_portability_source.fake.generator import UserHistory

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DLT_SECTION = "Use as a dlt source in your own pipeline"
PLACEHOLDER = '"export.zip"'
LOAD_ID_ENV = "NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_LOAD_ID"
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)


def section(markdown: str, title: str) -> str:
    """The text under the ``## title`` heading, up to the next heading of that level."""
    found = re.search(rf"^## {re.escape(title)}[ \t]*\n(.*?)(?=^## |\Z)", markdown, re.MULTILINE | re.DOTALL)
    assert found, f"README.md has no '## {title}' section"
    return found.group(1)


def dlt_snippet() -> str:
    blocks = [code for lang, code in FENCE.findall(section(README.read_text(encoding="utf-8"), DLT_SECTION))
              if lang == "python"]
    assert blocks, f"README section '{DLT_SECTION}' has no ```python block"
    code = "\n".join(blocks)
    assert PLACEHOLDER in code, f"the snippet should read the archive {PLACEHOLDER}, which the test replaces"
    return code


@pytest.mark.parametrize("with_load_id", [True, False], ids=["ADD_DLT_LOAD_ID", "plain-dlt"])
def test_the_dlt_source_snippet_runs_as_written_and_loads_every_row(tmp_path, with_load_id):
    export = UserHistory("user_a", seed=3).export(tmp_path / "exports", at=datetime(2025, 12, 1, tzinfo=timezone.utc))
    script = tmp_path / "readme_snippet.py"
    script.write_text(dlt_snippet().replace(PLACEHOLDER, repr(str(export.path))), encoding="utf-8")

    env = {k: v for k, v in os.environ.items() if k != LOAD_ID_ENV}
    # dlt's global folder (~/.dlt: pipelines' local state, global config) inside the test's folder:
    # a working folder left by an earlier run would otherwise count this export as loaded before
    env.update(RUNTIME__DLTHUB_TELEMETRY="false", DLT_DATA_DIR=str(tmp_path / "dlt_home"))
    if with_load_id:
        env[LOAD_ID_ENV] = "true"
    run = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=600, check=False)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]

    made = list(tmp_path.glob("*.duckdb"))
    assert len(made) == 1, f"the snippet should make one DuckDB file in its working directory, found {made}"
    with duckdb.connect(str(made[0]), read_only=True) as con:
        for table in ("watch_history", "likes"):
            assert export.expected[table] > 0
            counts = con.sql(f"SELECT user_id, COUNT(*), COUNT(DISTINCT row_key) FROM tiktok.{table} GROUP BY 1").fetchall()
            assert counts == [("user_a", export.expected[table], export.expected[table])], table
            columns = {c for (c,) in con.sql("SELECT column_name FROM information_schema.columns "
                                             "WHERE table_schema = 'tiktok' AND table_name = ?", params=[table]).fetchall()}
            if with_load_id:
                (loaded,) = con.sql("SELECT load_id FROM tiktok._dlt_loads WHERE status = 0").fetchone()
                assert con.sql(f"SELECT DISTINCT _dlt_load_id FROM tiktok.{table}").fetchall() == [(loaded,)]
            else:  # what the README says a plain dlt pipeline gives: no load id on arrow rows
                assert "_dlt_load_id" not in columns, table


# --- links -------------------------------------------------------------------------------------------

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def markdown_files() -> list[Path]:
    return [README, *sorted((ROOT / "docs").glob("*.md"))]


def without_code(markdown: str) -> str:
    """Fenced blocks removed: a ``# comment`` in a shell block is not a heading, ``[x](y)`` in code no link."""
    return FENCE.sub("", markdown)


def anchors(path: Path) -> set[str]:
    """GitHub's heading ids: lower case, punctuation dropped, spaces to dashes, repeats numbered."""
    seen: dict[str, int] = {}
    out = set()
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", without_code(path.read_text(encoding="utf-8")), re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        out.add(slug if count == 0 else f"{slug}-{count}")
    return out


def test_every_relative_link_in_the_readme_and_docs_points_at_something_that_exists():
    broken = []
    checked = 0
    for doc in markdown_files():
        for target in LINK.findall(without_code(doc.read_text(encoding="utf-8"))):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
                continue
            checked += 1
            file_part, _, anchor = target.partition("#")
            linked = (doc.parent / file_part).resolve() if file_part else doc
            where = f"{doc.relative_to(ROOT)}: ({target})"
            if not linked.is_relative_to(ROOT):
                broken.append(f"{where} leaves the repository")
            elif not linked.exists():
                broken.append(f"{where} does not exist")
            elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
                broken.append(f"{where}: no heading #{anchor} in {linked.relative_to(ROOT)}")
    assert checked > 20
    assert broken == []


def test_the_readme_links_every_page_of_docs_and_names_no_file_outside_the_repository():
    readme = README.read_text(encoding="utf-8")
    assert readme.startswith("# tiktok-portability\n\n```bash\nmake demo"), "the README must open with `make demo`"
    linked = set(re.findall(r"\]\((docs/[^)#\s]+\.md)", readme))
    pages = {f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md")}
    assert pages - linked == set(), "docs pages the README does not link"
    for doc in markdown_files():
        text = doc.read_text(encoding="utf-8")
        assert not re.search(r"shared/|reference/", text), f"{doc.relative_to(ROOT)} names a file outside the repository"
