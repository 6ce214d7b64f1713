"""
The C{idlemail} command: adduser, passwd, pw, check-config, doctor, notify-change.

Every failure is one readable line on stderr and a non-zero exit, never a traceback:
2 for a mistake in the command or the config, 1 when the work itself failed (a server
that cannot be reached).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

import idlemail
from idlemail.config import DEFAULT_DATA, Config, loadConfig
from idlemail.errors import ConfigError


class CommandError(Exception):
    """A failure to report in one line."""


def _maildirSettings(config: Config | None) -> tuple[Path, Path]:
    if config is None or config.server is None:
        root = Path(DEFAULT_DATA)
        return root, root / "passwd"
    if config.server.backend != "maildir":
        raise CommandError(f"{config.path}: server.backend is {config.server.backend!r}; "
                           "users are managed here only for the maildir backend")
    section = config.server.backendSection
    root = Path(section.get("root", DEFAULT_DATA))
    return root, Path(section.get("passwd_file", root / "passwd"))


def _readPassword(args) -> str:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif not sys.stdin.isatty():
        raise CommandError("no terminal to ask for the password on; use --password-stdin")
    else:
        who = f" for {args.name}" if getattr(args, "name", None) else ""
        password = getpass.getpass(f"Password{who}: ")
        if password != getpass.getpass("Again: "):
            raise CommandError("the passwords differ")
    if not password:
        raise CommandError("an empty password is not allowed")
    return password


def checkUserName(name: str) -> None:
    if not name or name.startswith(".") or any(c in name for c in ":/\\\0") \
            or any(c.isspace() or ord(c) < 0x20 for c in name):
        raise CommandError(f"{name!r} is not a valid user name (no ':', '/', spaces, "
                           "control characters or leading '.')")


def _load(args) -> Config | None:
    return loadConfig(args.config) if args.config else None


def cmdAdduser(args) -> int:
    from idlemail.backends.maildir.backend import createMaildir
    from idlemail.passwd import PasswdFile
    checkUserName(args.name)
    root, passwdPath = _maildirSettings(_load(args))
    passwd = PasswdFile(passwdPath)
    if passwd.lookup(args.name) is not None:
        raise CommandError(f"{passwdPath}: user {args.name!r} exists already "
                           "(use 'idlemail passwd' to change the password)")
    password = _readPassword(args)
    passwdPath.parent.mkdir(parents=True, exist_ok=True)
    passwd.setPassword(args.name, password)
    createMaildir(root, args.name)
    print(f"added {args.name}; mail in {root / args.name / 'Maildir'}")
    return 0


def cmdPasswd(args) -> int:
    from idlemail.passwd import PasswdFile
    _, passwdPath = _maildirSettings(_load(args))
    passwd = PasswdFile(passwdPath)
    if passwd.lookup(args.name) is None:
        raise CommandError(f"{passwdPath}: no user {args.name!r}")
    passwd.setPassword(args.name, _readPassword(args))
    print(f"password of {args.name} changed")
    return 0


def cmdPw(args) -> int:
    """Print a passwd-file password field, as C{doveadm pw} does."""
    from idlemail.passwd import hashPassword
    print(hashPassword(_readPassword(args), args.scheme))
    return 0


def cmdCheckConfig(args) -> int:
    from idlemail.tap import buildService
    config = loadConfig(args.config)
    # Built as twistd would build it (endpoints parsed, TLS files read, backend settings
    # checked), but not started.
    buildService(config, f"{args.config}: server.listen", withNotifier=False)
    if args.print:
        import tomli_w
        from idlemail.config import effectiveConfig
        print(f"# idlemail {idlemail.__version__}: {args.config} with the defaults filled in")
        print(tomli_w.dumps(effectiveConfig(config)), end="")
        return 0
    parts = []
    if config.server is not None:
        parts.append(f"server on {', '.join(config.server.listen)} ({config.server.backend})")
    if config.notifier is not None:
        parts.append(f"notifier with {len(config.notifier.accounts)} account(s)")
    if config.metrics is not None:
        parts.append(f"metrics on {config.metrics.listen}")
    print(f"{args.config}: OK: " + "; ".join(parts))
    return 0


def cmdDoctor(args) -> int:
    from idlemail.client.doctor import runDoctor
    return runDoctor(loadConfig(args.config))


class Unreachable(Exception):
    """A peer the command needs could not be reached: exit status 1."""


def cmdNotifyChange(args) -> int:
    """
    Tell every idlemail process that has C{USER}'s C{MAILBOX} open to read it again: an
    MDA on another host (a Postfix or Dovecot LDA hook) delivered into shared storage
    where no watcher sees it. Publishes one "re-read" envelope on the configured Redis
    bus and exits: 0 once Redis took it, 1 if Redis cannot be reached in time, 2 for a
    mistake in the command or the config.
    """
    import txredisapi
    from twisted.internet import reactor

    from idlemail.bus.envelope import Envelope, newOrigin
    from idlemail.bus.redis import publishOnce
    from idlemail.client.failures import describe
    config = loadConfig(args.config)
    if config.server is None:
        raise CommandError(f"{args.config}: no [server] table, so no bus to publish on")
    bus = config.server.bus
    if bus.kind != "redis":
        raise CommandError(f"{args.config}: server.bus.kind is {bus.kind!r}: there is no "
                           "bus between processes to publish on (kind = \"redis\" needed)")
    checkUserName(args.user)
    mailbox = _mailboxName(args.mailbox)
    if not args.timeout > 0:
        raise CommandError(f"--timeout {args.timeout}: expected seconds above 0")
    envelope = Envelope(args.user, mailbox, 0, newOrigin(), 1, None)
    outcome: dict = {}

    def run():
        d = publishOnce(reactor, bus.endpoint, envelope, args.timeout)
        d.addCallbacks(lambda count: outcome.update(count=count),
                       lambda failure: outcome.update(error=failure))
        d.addBoth(lambda _: reactor.stop())
    reactor.callWhenRunning(run)
    reactor.run(installSignalHandlers=False)
    if "error" in outcome:
        failure = outcome["error"]
        why = (f"the connection to {bus.endpoint} was lost before Redis answered"
               if failure.check(txredisapi.ConnectionError)
               else describe(failure, bus.endpoint, connecting=True))
        raise Unreachable(f"Redis bus: {why}")
    if args.verbose:
        print(f"{args.user}'s {mailbox}: told {outcome['count']} process(es)")
    return 0


def _mailboxName(name: str) -> str:
    from idlemail.backends.maildir import names
    from idlemail.errors import IMAPError
    if name.upper() == "INBOX":
        return "INBOX"
    try:
        names.checkName(name)
    except IMAPError as e:
        raise CommandError(str(e)) from None
    return name


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        """A usage mistake is one line and exit status 2, as every other failure here."""
        raise CommandError(f"{message} (see: {self.prog} --help)")


def parser() -> argparse.ArgumentParser:
    from idlemail.passwd import SCHEMES
    p = _Parser(prog="idlemail", description="idlemail administration")
    p.add_argument("--version", action="version", version=f"idlemail {idlemail.__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    for name, fn, text in (("adduser", cmdAdduser, "add a Maildir user (ARGON2ID)"),
                           ("passwd", cmdPasswd, "change a user's password")):
        s = sub.add_parser(name, help=text)
        s.add_argument("name")
        s.add_argument("--config", "-c", help="TOML config (default: ./idlemail-data)")
        _passwordStdin(s)
        s.set_defaults(run=fn)
    s = sub.add_parser("pw", help="hash a password for a passwd-file line")
    s.add_argument("--scheme", "-s", type=str.upper, choices=SCHEMES, default="ARGON2ID",
                   help="default: ARGON2ID")
    _passwordStdin(s)
    s.set_defaults(run=cmdPw)
    s = sub.add_parser("check-config", help="check a config file and say what it runs")
    s.add_argument("--config", "-c", required=True)
    s.add_argument("--print", action="store_true",
                   help="print the effective config, defaults filled in (TOML)")
    s.set_defaults(run=cmdCheckConfig)
    s = sub.add_parser("doctor", help="connect each notifier account and report")
    s.add_argument("--config", "-c", required=True)
    s.set_defaults(run=cmdDoctor)
    s = sub.add_parser("notify-change", help="tell the servers on the Redis bus to re-read "
                       "a mailbox (an MDA hook); exit 0 sent, 1 Redis unreachable, 2 usage")
    s.add_argument("--config", "-c", required=True)
    s.add_argument("user")
    s.add_argument("mailbox", nargs="?", default="INBOX", help="default: INBOX")
    s.add_argument("--timeout", type=float, default=5.0,
                   help="seconds to wait for Redis (default 5)")
    s.add_argument("--verbose", "-v", action="store_true",
                   help="say how many server processes were told")
    s.set_defaults(run=cmdNotifyChange)
    return p


def _passwordStdin(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--password-stdin", action="store_true",
                        help="read the password from the first line of standard input")


def main(argv=None) -> int:
    try:
        args = parser().parse_args(argv)
        return args.run(args)
    except (CommandError, ConfigError) as e:
        print(f"idlemail: {e}", file=sys.stderr)
        return 2
    except Unreachable as e:
        print(f"idlemail: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"idlemail: {e.filename or ''}: {e.strerror}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, EOFError):
        return 130


if __name__ == "__main__":
    sys.exit(main())
