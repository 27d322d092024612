"""A clone stands alone: nothing a user runs or reads points outside the repository.

The project was built with a folder of design notes and third-party vectors beside it; a
clone has neither.  The vectors live in ``tests/vectors/`` (with their provenance) and the
architecture in ``docs/ARCHITECTURE.md``, and no file may send a reader or a test elsewhere.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SKIP_DIRS = {".git", ".venv", ".devnet", "build", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache",
             ".hypothesis", "vectors"}
OUTSIDE = ("../shared", "shared/testdata", "DESIGN.md", "DESIGN §")


def _files() -> list[Path]:
    out = []
    for path in ROOT.rglob("*"):
        rel = path.relative_to(ROOT)
        generated = any(part.endswith(".egg-info") or part.startswith(".devnet") for part in rel.parts)
        if path.is_file() and not (set(rel.parts[:-1]) & SKIP_DIRS) and not generated \
                and path.suffix in {".py", ".md", ".toml", ".cfg", ".txt", ".c", ".h", ".wat", ".cddl", ""}:
            out.append(path)
    return out


def test_no_file_points_outside_the_repository() -> None:
    files = _files()
    assert len(files) > 100 and ROOT / "README.md" in files
    hits = [f"{p.relative_to(ROOT)}: {needle}" for p in files if p != Path(__file__).resolve()
            for needle in OUTSIDE if needle in p.read_text(errors="replace")]
    assert hits == []


def test_every_vector_folder_is_described_in_the_vectors_readme() -> None:
    vectors = ROOT / "tests" / "vectors"
    readme = (vectors / "README.md").read_text()
    folders = {p.parent.relative_to(vectors).as_posix() for p in vectors.rglob("*") if p.is_file()} - {"."}
    assert folders and all(f.split("/")[-1] in readme for f in folders), folders
