"""``docs/protocol.md`` stays true to the code: its command table and the functions it names."""

from __future__ import annotations

import re
from pathlib import Path

from pymt5_core.wire import codec, messages
from pymt5_core.wire.enums import Command

DOC = (Path(__file__).parents[2] / "docs" / "protocol.md").read_text()
TABLE_ROW = re.compile(r"^\| (\d+) \| `(\w+)`", re.MULTILINE)


def test_command_table_lists_each_used_command_once_with_its_enum_name() -> None:
    rows = [(int(i), name) for i, name in TABLE_ROW.findall(DOC)]
    assert rows == [(int(c), c.name) for c in Command]
    assert len(rows) == 34


def test_every_build_and_read_function_named_in_the_doc_exists() -> None:
    named = set(re.findall(r"`((?:build|read)_\w+)`", DOC))
    assert named
    assert named <= set(messages.__all__) | set(codec.__all__)


def test_every_message_function_is_named_in_the_doc() -> None:
    public = {n for n in messages.__all__ if n.startswith(("build_", "read_"))}
    assert public <= set(re.findall(r"`((?:build|read)_\w+)`", DOC))
