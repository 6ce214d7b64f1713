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


@pytest.fixture
def serve():
    """Serve a backend on 127.0.0.1 (the port's number is returned); stopped after."""
    from idlemail.testing import listenLocal
    ports = []

    def start(backend) -> int:
        port, factory = listenLocal(backend)
        ports.append((port, factory))
        return port.getHost().port

    yield start
    for port, factory in ports:
        for session in list(factory.sessions):
            session.transport.abortConnection()
        port.stopListening()


def message(n: int, size: int = 0) -> bytes:
    return (b"From: test@example.org\r\nSubject: message %d\r\n\r\n" % n
            + b"x" * size + b"body\r\n")


async def openInbox(backend, readonly=False, user="alice"):
    account = await backend.login(user, f"{user}pw")
    return await account.open("INBOX", readonly)
