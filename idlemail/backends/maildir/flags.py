"""
Flags in Maildir file names (C{base:2,FS}) and Dovecot's C{dovecot-keywords} file, which
maps the lower-case letters a..z to keywords.
"""

from __future__ import annotations

import os
from pathlib import Path

from idlemail.errors import MailboxError

INFO = ":2,"
_LETTER_OF = {"\\Draft": "D", "\\Flagged": "F", "\\Answered": "R", "\\Seen": "S",
              "\\Deleted": "T"}
_FLAG_OF = {v: k for k, v in _LETTER_OF.items()}


def split(filename: str) -> tuple[str, str]:
    """C{(base, info letters)}; a name without C{:2,} has no flags."""
    base, sep, info = filename.partition(INFO)
    return base, info if sep else ""


class Keywords:
    """The keyword <-> letter table of one folder, kept in C{dovecot-keywords}."""

    def __init__(self, folderPath: Path):
        self.path = folderPath / "dovecot-keywords"
        self.names: list[str | None] = []
        self._stamp = None

    def load(self) -> None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp == self._stamp:
            return
        self._stamp = stamp
        names: list[str | None] = []
        for line in self.path.read_text(encoding="utf-8", errors="replace").splitlines():
            index, _, name = line.partition(" ")
            if index.isdigit() and name and int(index) < 26:
                while len(names) <= int(index):
                    names.append(None)
                names[int(index)] = name
        self.names = names

    def letter(self, keyword: str) -> str:
        self.load()
        for i, name in enumerate(self.names):
            if name == keyword:
                return chr(ord("a") + i)
        if len(self.names) >= 26:
            raise MailboxError("Too many keywords in this mailbox (Maildir allows 26)", "LIMIT")
        self.names.append(keyword)
        self._save()
        return chr(ord("a") + len(self.names) - 1)

    def _save(self) -> None:
        tmp = self.path.with_name(f".dovecot-keywords.{os.getpid()}")
        tmp.write_text("".join(f"{i} {n}\n" for i, n in enumerate(self.names) if n))
        os.replace(tmp, self.path)
        st = self.path.stat()
        self._stamp = (st.st_mtime_ns, st.st_size)

    def toFlags(self, info: str) -> frozenset[str]:
        flags = set()
        for c in info:
            if c in _FLAG_OF:
                flags.add(_FLAG_OF[c])
            elif "a" <= c <= "z":
                self.load()
                i = ord(c) - ord("a")
                if i < len(self.names) and self.names[i]:
                    flags.add(self.names[i])
        return frozenset(flags)

    def toInfo(self, flags, keep: str = "") -> str:
        """Letters for C{flags}, sorted as Dovecot writes them; C{P} (passed) is kept."""
        letters = {"P"} & set(keep)
        for flag in flags:
            if flag in _LETTER_OF:
                letters.add(_LETTER_OF[flag])
            elif flag.startswith("\\"):
                continue  # \Recent and unknown system flags are never stored
            else:
                letters.add(self.letter(flag))
        return "".join(sorted(letters))
