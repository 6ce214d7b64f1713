"""
Base-subject extraction, RFC 5256 2.1, step by step.
"""

import pytest

from idlemail.wire.subject import baseSubject, casemapped


@pytest.mark.parametrize("subject, base, isReply", [
    ("hello", "hello", False),
    ("Re: hello", "hello", True),
    ("RE: Fwd: fw: re:hello", "hello", True),  # (3), repeated (5)
    ("Re [list]: hello", "hello", True),  # subj-refwd with its blob
    ("[list] Re: [other] hello", "hello", True),  # (3) leader with blobs, then (4)
    ("[list] hello", "hello", False),  # (4)
    ("[list]", "[list]", False),  # (4) only if something is left
    ("[a] [b]", "[b]", False),
    ("hello (fwd)", "hello", True),  # (2)
    ("hello (FWD) (fwd)  ", "hello", True),  # (2) repeated, white space too
    ("[Fwd: hello]", "hello", True),  # (6)
    ("Re: [Fwd: Re: hello (fwd)]", "hello", True),  # (6) then back to (2)
    ("  hello \t  world  ", "hello world", False),  # (1) white space
    ("=?UTF-8?Q?Re=3A_caf=C3=A9?=", "café", True),  # (1) encoded words first
    ("=?ISO-8859-1?Q?Fwd:_=E9t=E9?= (fwd)", "été", True),
    ("Rest: hello", "Rest: hello", False),  # not a "re" leader
    ("", "", False),
    (None, "", False),
])
def test_base_subject(subject, base, isReply):
    assert baseSubject(subject) == (base, isReply)


def test_comparison_folds_ascii_case_only():
    assert casemapped("Hello") == casemapped("hELLO")
    assert casemapped("été") != casemapped("ÉTÉ")  # i;ascii-casemap folds ASCII alone
