"""
A Dovecot-style passwd-file (C{user:{SCHEME}hash:uid:gid::home::}) and a twisted.cred
checker over it.

Schemes: ARGON2ID (argon2-cffi; what we write), BLF-CRYPT (bcrypt), SHA512-CRYPT (libpass,
the maintained fork of passlib, imported as C{passlib}) and PLAIN. Verification is CPU-heavy
by design, so it runs in a thread, never on the reactor thread.
"""

from __future__ import annotations

import hmac
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from twisted.cred import credentials, error
from twisted.cred.checkers import ICredentialsChecker
from twisted.internet import defer, threads
from twisted.logger import Logger
from zope.interface import implementer

log = Logger()
SCHEMES = ("ARGON2ID", "BLF-CRYPT", "SHA512-CRYPT", "PLAIN")
#: bcrypt reads at most 72 bytes of a password; Dovecot (crypt_blowfish) ignores the rest,
#: while the bcrypt module (5.0 and later) raises instead. Truncate as Dovecot does.
BCRYPT_MAX = 72
# Compared against when the user does not exist, so that the answer takes as long.
_DUMMY = None
_threadPool = None  # see useThreadPool


def hashPassword(password: str, scheme: str = "ARGON2ID") -> str:
    scheme = scheme.upper()
    if scheme == "ARGON2ID":
        from argon2 import PasswordHasher
        return "{ARGON2ID}" + PasswordHasher().hash(password)
    if scheme == "BLF-CRYPT":
        import bcrypt
        return "{BLF-CRYPT}" + bcrypt.hashpw(password.encode()[:BCRYPT_MAX],
                                             bcrypt.gensalt()).decode()
    if scheme == "SHA512-CRYPT":
        from passlib.hash import sha512_crypt
        return "{SHA512-CRYPT}" + sha512_crypt.using(rounds=5000).hash(password)
    if scheme == "PLAIN":
        return "{PLAIN}" + password
    raise ValueError(f"unknown password scheme {scheme!r} (use one of: {', '.join(SCHEMES)})")


def verifyPassword(password: str, stored: str) -> bool:
    """True if C{password} matches C{stored} (C{{SCHEME}}data; no prefix means PLAIN)."""
    scheme, data = "PLAIN", stored
    if stored.startswith("{") and "}" in stored:
        scheme, data = stored[1:stored.index("}")].upper(), stored[stored.index("}") + 1:]
    try:
        if scheme in ("ARGON2ID", "ARGON2I"):
            from argon2 import PasswordHasher
            from argon2.exceptions import InvalidHashError, VerificationError
            try:
                return PasswordHasher().verify(data, password)
            except (VerificationError, InvalidHashError):
                return False
        if scheme == "BLF-CRYPT":
            import bcrypt
            # Dovecot writes $2y$; the bcrypt module knows it as $2b$ (same algorithm).
            if data.startswith("$2y$"):
                data = "$2b$" + data[4:]
            return bcrypt.checkpw(password.encode()[:BCRYPT_MAX], data.encode())
        if scheme == "SHA512-CRYPT":
            from passlib.hash import sha512_crypt
            return sha512_crypt.verify(password, data)
        if scheme in ("PLAIN", "CLEARTEXT"):
            return hmac.compare_digest(password.encode(), data.encode())
    except ValueError as e:
        log.warn("Malformed {scheme} hash: {error}", scheme=scheme, error=e)
        return False
    log.warn("Unsupported password scheme {scheme}", scheme=scheme)
    return False


@dataclass(frozen=True)
class PasswdEntry:
    name: str
    password: str
    extra: tuple  # uid, gid, gecos, home, shell, extra fields: kept as written


class PasswdFile:
    """The users of one passwd-file; re-read when the file changes."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._stamp = None
        self._entries: dict[str, PasswdEntry] = {}

    def entries(self) -> dict[str, PasswdEntry]:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            self._stamp, self._entries = None, {}
            return {}
        stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        if stamp != self._stamp:
            self._entries = self._read()
            self._stamp = stamp
        return self._entries

    def _read(self) -> dict[str, PasswdEntry]:
        out = {}
        text = self.path.read_text(encoding="utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            fields = line.split(":")
            if len(fields) < 2 or not fields[0] or not fields[1]:
                log.warn("{path}:{n}: skipping malformed line", path=str(self.path), n=number)
                continue
            out[fields[0]] = PasswdEntry(fields[0], fields[1], tuple(fields[2:]))
        return out

    def lookup(self, name: str) -> PasswdEntry | None:
        return self.entries().get(name)

    def version(self):
        """The file's stamp (mtime, size, inode), re-read now: it changes when the file does."""
        self.entries()
        return self._stamp

    def checkPassword(self, name: str, password: str, reactor=None,
                      threadpool=None) -> defer.Deferred:
        """
        A Deferred firing True or False; the hash is checked on C{threadpool}, else on the
        pool given to L{useThreadPool}, else on the reactor's default pool.
        """
        entry = self.lookup(name)
        stored = entry.password if entry is not None else None
        pool = threadpool or _threadPool
        if pool is None:
            return threads.deferToThread(_verify, password, stored)
        if reactor is None:
            from twisted.internet import reactor
        return threads.deferToThreadPool(reactor, pool, _verify, password, stored)

    def setPassword(self, name: str, password: str, scheme: str = "ARGON2ID") -> None:
        """Add C{name} or replace its password, keeping every other line as it was."""
        hashed = hashPassword(password, scheme)
        lines = self.path.read_text(encoding="utf-8").splitlines() if self.path.exists() else []
        out, found = [], False
        for line in lines:
            fields = line.split(":")
            if fields[0] == name and len(fields) >= 2:
                fields[1] = hashed
                line, found = ":".join(fields), True
            out.append(line)
        if not found:
            out.append(f"{name}:{hashed}::::::")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".passwd-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write("\n".join(out) + "\n")
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        self._stamp = None


def useThreadPool(pool):
    """
    Check passwords on C{pool} (a started L{twisted.python.threadpool.ThreadPool}) when the
    caller of L{PasswdFile.checkPassword} names none; None: the reactor's default pool.
    Returns the pool used until now. The server installs its own small pool, so that a
    login storm never queues in front of other work.
    """
    global _threadPool
    previous, _threadPool = _threadPool, pool
    return previous


def _verify(password: str, stored: str | None) -> bool:
    # In a thread: even the stand-in hash for an unknown user is made off the reactor.
    if stored is None:
        verifyPassword(password, _dummy())
        return False
    return verifyPassword(password, stored)


def _dummy() -> str:
    global _DUMMY
    if _DUMMY is None:
        _DUMMY = hashPassword("not a password", "ARGON2ID")
    return _DUMMY


@implementer(ICredentialsChecker)
class PasswdChecker:
    credentialInterfaces = (credentials.IUsernamePassword,)

    def __init__(self, passwd: PasswdFile):
        self.passwd = passwd

    def requestAvatarId(self, creds):
        name = creds.username.decode() if isinstance(creds.username, bytes) else creds.username
        password = creds.password.decode() if isinstance(creds.password, bytes) else creds.password
        d = self.passwd.checkPassword(name, password)

        def decide(ok):
            if ok:
                return name
            raise error.UnauthorizedLogin("Invalid user name or password")
        return d.addCallback(decide)
