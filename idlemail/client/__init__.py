"""
The IMAP client side: C{protocol} (commands -> Deferreds, untagged responses at once, IDLE
that commands interrupt and that resumes), C{framing} (bounded reading of responses),
C{follower} (a mailbox followed by UID), C{login} (connect, STARTTLS, authenticate),
C{watcher} and C{watchsession} (one mailbox watched forever), C{cursor} (where it left off).
"""
