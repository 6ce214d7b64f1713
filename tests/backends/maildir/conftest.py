import pytest

from idlemail.backends.maildir.backend import MaildirBackend


def writePasswd(path, users):
    path.write_text("".join(f"{u}:{{PLAIN}}{p}::::::\n" for u, p in users.items()))


@pytest.fixture
def makeBackend(tmp_path):
    made = []

    def make(**kwargs):
        passwd = tmp_path / "passwd"
        if not passwd.exists():
            writePasswd(passwd, {"alice": "alicepw", "bob": "bobpw"})
        backend = MaildirBackend(tmp_path / "mail", passwd, **kwargs)
        made.append(backend)
        return backend

    yield make
    for backend in made:
        backend.close()


@pytest.fixture
def loggedWarnings():
    """The text of every warning logged through twisted.logger during the test."""
    from twisted.logger import LogLevel, formatEvent, globalLogPublisher
    seen: list[str] = []

    def observe(event):
        if event.get("log_level") in (LogLevel.warn, LogLevel.error, LogLevel.critical):
            seen.append(formatEvent(event))
    globalLogPublisher.addObserver(observe)
    yield seen
    globalLogPublisher.removeObserver(observe)
