"""Rewrite tests/golden/*.json from the current code: ONLY when a change of numbers is intended.

    python tests/regenerate_golden.py            # all golden files
    python tests/regenerate_golden.py tiny_run   # one of them

Every recorded run and the calibrated parameters were made with the old numbers. Say in
the commit message why the numbers changed (a new rule, a new random stream, a changed
calibration target) and rerun the calibration if the model changed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import golden_values as gv  # noqa: E402


def dump(obj) -> str:
    return json.dumps(obj, indent=2, sort_keys=True) + "\n"


def main(argv: list[str]) -> int:
    wanted = [a.removesuffix(".json") + ".json" for a in argv] or list(gv.FILES)
    unknown = [w for w in wanted if w not in gv.FILES]
    if unknown:
        print(f"unknown golden file(s) {unknown}; known: {list(gv.FILES)}", file=sys.stderr)
        return 2
    gv.GOLDEN.mkdir(exist_ok=True)
    for name in wanted:
        path = gv.GOLDEN / name
        new = dump(gv.FILES[name]())
        old = path.read_text() if path.exists() else None
        path.write_text(new)
        print(f"{path.relative_to(gv.HERE.parent)}: {'unchanged' if old == new else 'REWRITTEN'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
