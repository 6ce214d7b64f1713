"""
The remote-IMAP backend: idlemail as a push proxy in front of another IMAP server.

Every local client IDLEs on idlemail; idlemail holds one upstream connection per watched
(user, mailbox) and a few pooled ones per user for commands, which it sends upstream by UID.

- C{settings}: the C{[server.remote]} table.
- C{upstream}: opening an upstream session as a user; what its failures mean locally.
- C{pool}: the command sessions of one user, bounded, idle ones closed after a while.
- C{state}: what the proxy knows of one upstream mailbox, and publishing each change once.
- C{watch}: the one upstream connection that follows a mailbox (IDLE, or polling).
- C{user}: one upstream user's credentials, pool and watches.
- C{criteria}: SEARCH criteria as upstream arguments.
- C{body}: a message read from upstream in pieces.
- C{mailbox}, C{account}, C{backend}: the L{idlemail.interfaces} providers.
"""
