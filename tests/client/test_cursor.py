"""The notifier's state file: version 1 files (before MODSEQ) load; saves are version 2."""

from __future__ import annotations

import json

from idlemail.client.cursor import Cursor, CursorStore


def test_a_version_1_state_file_loads_and_gains_modseq_when_saved(tmp_path):
    path = tmp_path / "state.json"
    path.write_text(json.dumps({"version": 1, "cursors": {
        "home/INBOX": {"uidvalidity": 1700000000, "highest": 42, "uids": "1:40,42"}}}))
    store = CursorStore(path)
    old = store.get("home", "INBOX")
    assert (old.uidvalidity, old.highest, old.modseq) == (1700000000, 42, None)
    assert old.uids == list(range(1, 41)) + [42]
    store.put("home", "INBOX", Cursor(1700000000, 43, old.uids + [43], modseq=917))
    data = json.loads(path.read_text())
    assert data["version"] == 2
    assert data["cursors"]["home/INBOX"] == {"uidvalidity": 1700000000, "highest": 43,
                                             "uids": "1:40,42:43", "modseq": 917}
    assert CursorStore(path).get("home", "INBOX").modseq == 917


def test_a_cursor_without_modseq_is_written_as_before(tmp_path):
    store = CursorStore(tmp_path / "state.json")
    store.put("home", "INBOX", Cursor(7, 2, [1, 2]))
    entry = json.loads((tmp_path / "state.json").read_text())["cursors"]["home/INBOX"]
    assert entry == {"uidvalidity": 7, "highest": 2, "uids": "1:2"}
