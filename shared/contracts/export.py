"""Export the JSON Schema of every contract into shared/contracts/schemas/.

python -m shared.contracts.export          # write
python -m shared.contracts.export --check  # exit 1 when the checked-in files drift
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from shared.contracts import PAYLOADS
from shared.contracts.envelope import envelope_json_schema

SCHEMA_DIR = Path(__file__).parent / "schemas"


def rendered() -> dict[str, str]:
    out: dict[str, str] = {}
    for payload_type in PAYLOADS.values():
        name = f"{payload_type.event_type}.v{payload_type.schema_version}.json"
        schema = envelope_json_schema(payload_type)
        out[name] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    return out


def drifted() -> list[str]:
    expected = rendered()
    present = {p.name for p in SCHEMA_DIR.glob("*.json")}
    changed = [
        name
        for name, text in expected.items()
        if not (SCHEMA_DIR / name).exists() or (SCHEMA_DIR / name).read_text() != text
    ]
    return sorted(changed + sorted(present - expected.keys()))


def main(argv: list[str]) -> int:
    if "--check" in argv:
        stale = drifted()
        for name in stale:
            print(f"schema drifted: {name}", file=sys.stderr)
        return 1 if stale else 0
    SCHEMA_DIR.mkdir(exist_ok=True)
    for old in SCHEMA_DIR.glob("*.json"):
        old.unlink()
    for name, text in rendered().items():
        (SCHEMA_DIR / name).write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
