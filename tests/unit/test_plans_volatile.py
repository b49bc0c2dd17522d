"""A compiler driver's temporary names in a link's arguments: found by one rule, stood
for by a marker in the plan key and the plan, put back for each run."""

from __future__ import annotations

from linkpool import plans


def test_the_drivers_temporary_names_are_found() -> None:
    args = [b"run", b"--", b"/usr/bin/ld", b"-plugin-opt=-fresolution=/tmp/ccmX5VEw.res",
            b"/tmp/ccYp0Jvx.o", b"/tmp/m-eeea9d.o", b"/w/tmp/ccYp0Jvx.o", b"/tmp/cc/x.o",
            b"/tmp/ccabc.o", b"/tmp/m-EEEA9D.o", b"/x/ccQQQQQQ.o", b"/var/tmp/ccQQQQQQ.s"]
    assert plans.volatile(args, {}) == [(3, 25, 32), (4, 0, 7), (5, 0, 7), (11, 0, 11)]
    # $TMPDIR is one of the folders (with or without its last '/')
    assert plans.volatile([b"ld", b"/x/ccQQQQQQ.o"], {b"TMPDIR": b"/x/"}) == [(1, 0, 5)]
    assert plans.volatile([b"ld", b"/x/ccQQQQQQ.o"], {"TMPDIR": "/x"}) == [(1, 0, 5)]
    assert plans.volatile([b"ld", b"/x/ccQQQQQQ.o"], {"TMPDIR": "x"}) == []


def test_the_key_and_the_plan_hold_the_marker() -> None:
    one = [b"run", b"--", b"ld", b"-plugin-opt=-fresolution=/tmp/ccAAAAAA.res", b"/tmp/ccBBBBBB.o"]
    two = [b"run", b"--", b"ld", b"-plugin-opt=-fresolution=/tmp/ccCCCCCC.res", b"/tmp/ccDDDDDD.o"]
    assert plans.key(1, b"/w", one, {}) == plans.key(1, b"/w", two, {})
    assert b"/tmp/cc@0000@.res\0/tmp/cc@0001@.o\0" in plans.key(1, b"/w", one, {})
    body = b'arg\0/tmp/ccBBBBBB.o\0history\0"command":["ld","/tmp/ccBBBBBB.o"]\0'
    assert plans.templated(body, one, {}) == \
        b'arg\0/tmp/cc@0001@.o\0history\0"command":["ld","/tmp/cc@0001@.o"]\0'
    assert plans.marker(7) == b"@0007@" and len(plans.marker(63)) == plans.R_LEN
