"""The kit keeps shared code once: no block of 20 or more identical lines is shared by two model folders."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
WINDOW = 20
TEXT = {".py", ".yml", ".yaml", ".json", ".md", ".txt", ".ipynb", ".toml", ".cfg", ""}


def _lines(path: Path) -> list[tuple[int, str]]:
    """Non-blank lines with their numbers, stripped of indentation (a re-indented copy is still a copy)."""
    text = path.read_text(encoding="utf-8", errors="replace")
    return [(n, line.strip()) for n, line in enumerate(text.splitlines(), 1) if line.strip()]


def duplicate_blocks(models: Path, window: int = WINDOW) -> list[str]:
    """Every ``window``-line block found in two or more model folders, as 'file:line' lists."""
    seen: dict[str, dict[str, str]] = defaultdict(dict)  # block hash -> model -> "file:line"
    for folder in sorted(p for p in models.iterdir() if (p / "model.yaml").is_file()):
        for path in sorted(folder.rglob("*")):
            if not path.is_file() or path.suffix not in TEXT or "__pycache__" in path.parts:
                continue
            lines = _lines(path)
            for i in range(len(lines) - window + 1):
                block = "\n".join(text for _, text in lines[i:i + window])
                key = hashlib.sha256(block.encode()).hexdigest()
                seen[key].setdefault(folder.name, f"{path.relative_to(models)}:{lines[i][0]}")
    found = sorted({" = ".join(sorted(where.values())) for where in seen.values() if len(where) > 1})
    return found


def test_no_block_of_20_identical_lines_is_shared_by_two_model_folders():
    shared = duplicate_blocks(REPO / "models")
    assert shared == [], "blocks of 20+ identical lines shared by model folders (move them to modelkit/):\n" + \
        "\n".join(shared[:20])


def test_the_scan_finds_a_copied_block(tmp_path):
    body = "".join(f"value_{i} = {i}\n" for i in range(25))
    for name in ("one", "two"):
        (tmp_path / name / "src").mkdir(parents=True)
        (tmp_path / name / "model.yaml").write_text(f"name: {name}\n")
        (tmp_path / name / "src" / "helpers.py").write_text(f"# {name}\n" + body)
    (tmp_path / "two" / "src" / "helpers.py").write_text("# two\n" + body[:-13])  # 24 of the 25 lines
    # the 24 shared lines hold 5 windows of 20, starting at lines 2..6 of both files
    assert duplicate_blocks(tmp_path) == [f"one/src/helpers.py:{n} = two/src/helpers.py:{n}" for n in range(2, 7)]
    assert duplicate_blocks(tmp_path, window=25) == []
