"""
Flags in Maildir file names (C{base:2,FS}) and Dovecot's C{dovecot-keywords} file, which
maps the lower-case letters a..z to keywords.

Flags are case-insensitive (RFC 3501 2.3.2): a keyword keeps the spelling it was first
stored with, and C{$label} finds the letter of C{$Label}.
"""

from __future__ import annotations

import os
from pathlib import Path

from twisted.logger import Logger

from idlemail.backends.maildir.safe import readNoFollow
from idlemail.errors import IMAPError
from idlemail.records import KeywordSpellings, isKeyword, systemFlag

log = Logger()

INFO = ":2,"
_LETTER_OF = {"\\Draft": "D", "\\Flagged": "F", "\\Answered": "R", "\\Seen": "S",
              "\\Deleted": "T"}
_FLAG_OF = {v: k for k, v in _LETTER_OF.items()}
MAX_KEYWORDS = 26


def split(filename: str) -> tuple[str, str]:
    """C{(base, info letters)}; a name without C{:2,} has no flags."""
    base, sep, info = filename.partition(INFO)
    return base, info if sep else ""


class Keywords:
    """The keyword <-> letter table of one folder, kept in C{dovecot-keywords}."""

    def __init__(self, folderPath: Path):
        self.path = folderPath / "dovecot-keywords"
        self.names: list[str | None] = []
        # Lines we cannot use (not an atom, 8-bit): their letters stay taken, and the
        # lines are written back as they were.
        self._unusable: dict[int, str] = {}
        self._stamp = None
        self._flagsOf: dict[str, frozenset[str]] = {}  # info letters -> flags

    def load(self) -> None:
        try:
            st = os.lstat(self.path)
        except FileNotFoundError:
            return
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        if stamp == self._stamp:
            return
        self._stamp = stamp
        data = readNoFollow(self.path)
        if data is None:
            log.warn("{path}: not a regular file (a symlink?); its keywords are ignored",
                     path=str(self.path))
            return
        names: list[str | None] = []
        unusable: dict[int, str] = {}
        for line in data.decode("utf-8", "replace").splitlines():
            index, _, name = line.partition(" ")
            if not (index.isdigit() and name and int(index) < MAX_KEYWORDS):
                continue
            i = int(index)
            while len(names) <= i:
                names.append(None)
            if isKeyword(name) and all(n is None or n.lower() != name.lower() for n in names):
                names[i] = name
            else:
                unusable[i] = line
                log.warn("{path}: skipping keyword {index} {name!r}: not an ASCII atom, "
                         "or a second spelling of another", path=str(self.path),
                         index=i, name=name)
        self.names, self._unusable = names, unusable
        self._flagsOf = {}

    def known(self) -> list[str]:
        """The keywords of the folder, in letter order."""
        self.load()
        return [n for n in self.names if n]

    def full(self) -> bool:
        self.load()
        return len(self.names) >= MAX_KEYWORDS

    def canonical(self, flags) -> frozenset[str]:
        """
        C{flags} in their stored spelling: system flags as the RFC spells them, known
        keywords as first stored (new ones as given); \\Recent and unknown system
        flags dropped.
        """
        return KeywordSpellings(self.known()).canonical(flags, register=False)[0]

    def letter(self, keyword: str) -> str:
        self.load()
        lower = keyword.lower()
        for i, name in enumerate(self.names):
            if name is not None and name.lower() == lower:
                return chr(ord("a") + i)
        if not isKeyword(keyword):
            raise IMAPError(f"Invalid keyword {keyword!r}", status="BAD")
        if len(self.names) >= MAX_KEYWORDS:
            raise IMAPError("Too many keywords in this mailbox (Maildir allows 26)", "LIMIT")
        self.names.append(keyword)
        self._flagsOf = {}
        self._save()
        return chr(ord("a") + len(self.names) - 1)

    def _save(self) -> None:
        lines = {i: f"{i} {n}" for i, n in enumerate(self.names) if n}
        lines.update(self._unusable)
        tmp = self.path.with_name(f".dovecot-keywords.{os.getpid()}")
        tmp.write_text("".join(lines[i] + "\n" for i in sorted(lines)))
        os.replace(tmp, self.path)
        st = os.lstat(self.path)
        self._stamp = (st.st_mtime_ns, st.st_size, st.st_ino)

    def toFlags(self, info: str) -> frozenset[str]:
        """The flags of a file's info letters (the same letters, the same set: kept),
        by the table as last loaded."""
        known = self._flagsOf.get(info)
        if known is None:
            known = self._flagsOf[info] = self._toFlags(info)
        return known

    def _toFlags(self, info: str) -> frozenset[str]:
        flags = set()
        for c in info:
            if c in _FLAG_OF:
                flags.add(_FLAG_OF[c])
            elif "a" <= c <= "z":
                i = ord(c) - ord("a")
                if i < len(self.names) and self.names[i]:
                    flags.add(self.names[i])
        return frozenset(flags)

    def toInfo(self, flags, keep: str = "") -> str:
        """Letters for C{flags}, sorted as Dovecot writes them; C{P} (passed) is kept."""
        letters = {"P"} & set(keep)
        for flag in flags:
            if flag.startswith("\\"):
                letter = _LETTER_OF.get(systemFlag(flag) or "")
                if letter is not None:  # \Recent and unknown system flags are never stored
                    letters.add(letter)
            else:
                letters.add(self.letter(flag))
        return "".join(sorted(letters))
