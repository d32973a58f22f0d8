"""Every record vector: pack(input) gives the official bytes and unpack(bytes) gives the official values."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from pymt5_core.wire import LAYOUTS

VECTORS = Path(__file__).parents[1] / "data" / "vectors"
INT64 = {17, 18}


def _cases() -> list[tuple[str, str, dict[str, Any], list[dict[str, Any]], str]]:
    out = []
    for path in sorted(VECTORS.glob("*.json")):
        doc = json.loads(path.read_text())
        name = doc.get("spec_record")
        if not isinstance(name, str) or name in ("IdList", "Bar") or not isinstance(doc.get("fields"), list):
            continue
        cases, key = (doc["records"], "input") if "records" in doc else (doc.get("cases", []), "parsed")
        for case in cases:
            if len(bytes.fromhex(case.get("hex", ""))) == LAYOUTS[name].size:
                out.append((name, path.stem, case, doc["fields"], key))
    return out


def _from_json(value: Any, prop_type: int) -> Any:
    if value is None:
        return None
    if prop_type in INT64:
        return int(value)
    if prop_type == 12:
        return bytes.fromhex(value)
    return value


def _same(got: Any, want: Any, prop_type: int) -> bool:
    if want is None:
        return True
    if prop_type in INT64:
        return int(got) == int(want)
    if prop_type == 12:
        return bool(got == bytes.fromhex(want))
    if prop_type in (10, 11):
        return bool(got.rstrip("\x00") == want.rstrip("\x00"))
    if isinstance(want, float) and math.isnan(want):
        return math.isnan(got)
    return bool(got == want)


CASES = _cases()


@pytest.mark.parametrize(("name", "stem", "case", "fields", "key"), CASES,
                         ids=[f"{c[1]}-{c[2].get('label')}" for c in CASES])
def test_record_vector_round_trips(name: str, stem: str, case: dict[str, Any], fields: list[dict[str, Any]],
                                   key: str) -> None:
    layout = LAYOUTS[name]
    types = [f["propType"] for f in fields]
    assert [f["name"] for f in fields] == list(layout.fields)
    assert all(f.get("offset", off) == off for f, off in zip(fields, layout.offsets, strict=True))
    raw = bytes.fromhex(case["hex"])
    values = [_from_json(v, t) for v, t in zip(case[key], types, strict=True)]
    assert layout.pack(values) == raw
    got = layout.unpack(raw)
    bad = [fields[i]["name"] for i, (g, w, t) in enumerate(zip(got, case["parsed"], types, strict=True))
           if not _same(g, w, t)]
    assert not bad


def test_every_spec_record_in_the_vectors_has_a_layout() -> None:
    for path in VECTORS.glob("*.json"):
        name = json.loads(path.read_text()).get("spec_record")
        names = [name] if isinstance(name, str) else (name or [])
        for n in names:
            assert n == "IdList" or n in LAYOUTS, n


def test_bar_vectors_decode_in_one_array() -> None:
    doc = json.loads((VECTORS / "rate_bar.json").read_text())
    layout = LAYOUTS["Bar"]
    for case in doc["sets"]:
        raw = bytes.fromhex(case["hex"])
        arr = layout.unpack_array(raw)
        assert len(arr) == len(case["input"])
        for i, bar in enumerate(case["input"]):
            for field in layout.fields:
                assert float(arr[field][i]) == float(bar[field])
        assert layout.pack_array(arr) == raw
