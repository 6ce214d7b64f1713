from twisted.application.service import ServiceMaker

idlemail = ServiceMaker(
    "idlemail",
    "idlemail.tap",
    "IMAP4 IDLE push e-mail: server and relaying notifier",
    "idlemail",
)
