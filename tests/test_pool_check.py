"""The pool's check before it hands out a connection (database._check): it asks the connection's
socket whether it has something to read, which must work for any descriptor a busy node has."""

import os
import resource
import socket

from wagerbase.database import _readable

PAST_SELECT = 1500  # select() takes descriptors below 1,024 only (FD_SETSIZE)


def test_a_socket_past_selects_limit_still_says_whether_it_has_something_to_read() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft <= PAST_SELECT:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, PAST_SELECT + 1), hard))
    ours, theirs = socket.socketpair()
    high = os.dup2(ours.fileno(), PAST_SELECT)
    try:
        assert not _readable(high)  # an idle connection: nothing to read
        theirs.send(b"E")
        assert _readable(high)  # the server said something (an error, a notice)
        os.read(high, 1)
        theirs.close()
        assert _readable(high)  # the server closed it: the end of the stream is readable
    finally:
        os.close(high)
        ours.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
