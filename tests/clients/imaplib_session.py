#!/usr/bin/env python3
"""A full IMAP session with Python's stdlib imaplib, asserting every result.

Usage: imaplib_session.py HOST PORT USER PASS
Exit status 0 on success; on failure the assertion and the IMAP exchange
(imaplib debug output) are printed to stderr.
"""
import imaplib
import re
import sys
import time


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def ok(res, what):
    typ, data = res
    check(typ == "OK", f"{what}: {typ} {data!r}")
    return data


def list_names(m, pattern="*"):
    names = []
    for line in ok(m.list('""', pattern), "LIST"):
        if line is None:
            continue
        mo = re.match(rb'\((.*?)\) (NIL|"(?:[^"\\]|\\.)") (.*)$', line)
        check(mo, f"LIST line {line!r}")
        name = mo.group(3)
        if name.startswith(b'"'):
            name = name[1:-1]
        names.append(name.decode())
    return sorted(names)


MSG = (
    "From: Python <py@example.org>\r\n"
    "To: imapd <imapd@example.net>\r\n"
    "Subject: {subject}\r\n"
    "Message-ID: <{n}@imaplib.example>\r\n"
    "\r\n"
    "{body}\r\n"
)


def main():
    host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    m = imaplib.IMAP4(host, port, timeout=30)
    ok(m.login(user, password), "LOGIN")
    caps = m.capabilities
    for c in ("IMAP4REV1", "UIDPLUS", "MOVE"):
        check(c in caps, f"capability {c} in {caps}")

    # Folders.
    ok(m.create("Archive"), "CREATE Archive")
    ok(m.create("Archive/2024"), "CREATE Archive/2024")
    ok(m.create("Work"), "CREATE Work")
    check(m.create("Work")[0] == "NO", "CREATE of an existing name is NO")
    names = list_names(m)
    check(names == ["Archive", "Archive/2024", "INBOX", "Work"], f"LIST {names}")
    ok(m.subscribe("Work"), "SUBSCRIBE")
    lsub = ok(m.lsub('""', "*"), "LSUB")
    check(any(b"Work" in (l or b"") for l in lsub), f"LSUB {lsub}")

    # Append three messages, one with flags and a date.
    date = imaplib.Time2Internaldate(time.mktime((2023, 3, 4, 5, 6, 7, 0, 0, -1)))
    for n, (subject, body, flags) in enumerate(
        [
            ("hello world", "first body", None),
            ("second message", "the needle is here", "(\\Flagged)"),
            ("third", "plain text", None),
        ],
        start=1,
    ):
        data = ok(
            m.append("INBOX", flags, date, MSG.format(subject=subject, body=body, n=n).encode()),
            f"APPEND {n}",
        )
        check(b"APPENDUID" in data[0], f"APPENDUID in {data}")

    # Select and inspect.
    data = ok(m.select("INBOX"), "SELECT")
    check(data == [b"3"], f"SELECT EXISTS {data}")
    check(m.untagged_responses.get("UIDVALIDITY"), "UIDVALIDITY after SELECT")
    data = ok(m.fetch("1:3", "(FLAGS RFC822.SIZE)"), "FETCH FLAGS")
    check(len(data) == 3, f"three FETCH responses: {data}")
    check(b"\\Flagged" in data[1], f"message 2 flagged: {data[1]}")
    data = ok(m.fetch("1", "(BODY.PEEK[])"), "FETCH BODY.PEEK[]")
    check(data[0][1] == MSG.format(subject="hello world", body="first body", n=1).encode(), f"BODY[] {data}")
    data = ok(m.fetch("1", "(FLAGS)"), "FETCH FLAGS after PEEK")
    check(b"\\Seen" not in data[0], f"PEEK does not set \\Seen: {data}")
    ok(m.fetch("1", "(RFC822)"), "FETCH RFC822")
    data = ok(m.fetch("1", "(FLAGS)"), "FETCH FLAGS after RFC822")
    check(b"\\Seen" in data[0], f"RFC822 sets \\Seen: {data}")
    data = ok(m.fetch("2", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])"), "FETCH HEADER.FIELDS")
    check(data[0][1].strip() == b"Subject: second message", f"{data}")
    data = ok(m.fetch("1:*", "(ENVELOPE BODYSTRUCTURE INTERNALDATE)"), "FETCH ENVELOPE")
    check(b"hello world" in data[0], f"envelope {data[0]}")
    check(imaplib.Internaldate2tuple(data[0]) is not None, f"INTERNALDATE {data[0]}")

    # Flags.
    ok(m.store("3", "+FLAGS", "(\\Answered $Custom)"), "STORE +FLAGS")
    data = ok(m.fetch("3", "(FLAGS)"), "FETCH FLAGS")
    check(b"\\Answered" in data[0] and b"$Custom" in data[0], f"{data}")
    ok(m.store("3", "-FLAGS", "($Custom)"), "STORE -FLAGS")
    data = ok(m.fetch("3", "(FLAGS)"), "FETCH FLAGS")
    check(b"$Custom" not in data[0], f"{data}")

    # Search.
    check(ok(m.search(None, "FLAGGED"), "SEARCH")[0] == b"2", "SEARCH FLAGGED")
    check(ok(m.search(None, "BODY", "needle"), "SEARCH")[0] == b"2", "SEARCH BODY")
    check(ok(m.search(None, "SUBJECT", '"HELLO"'), "SEARCH")[0] == b"1", "SEARCH SUBJECT")
    check(ok(m.search(None, "SEEN"), "SEARCH")[0] == b"1", "SEARCH SEEN")
    check(sorted(ok(m.search(None, "UNSEEN"), "SEARCH")[0].split()) == [b"2", b"3"], "SEARCH UNSEEN")
    uids = ok(m.uid("SEARCH", None, "ALL"), "UID SEARCH")[0].split()
    check(len(uids) == 3, f"UID SEARCH {uids}")

    # Copy and move.
    typ, data = m.uid("COPY", uids[0].decode(), "Archive")
    check(typ == "OK", f"UID COPY {typ} {data}")
    typ, data = m._simple_command("MOVE", "2", "Work")
    check(typ == "OK", f"MOVE {typ} {data}")
    expunged = m.untagged_responses.pop("EXPUNGE", [])
    check(expunged == [b"2"], f"MOVE expunged {expunged}")
    check(ok(m.status("Archive", "(MESSAGES)"), "STATUS")[0].endswith(b"(MESSAGES 1)"), "Archive has 1")
    check(ok(m.status("Work", "(MESSAGES)"), "STATUS")[0].endswith(b"(MESSAGES 1)"), "Work has 1")

    # Expunge.
    ok(m.store("1", "+FLAGS", "(\\Deleted)"), "STORE \\Deleted")
    data = ok(m.expunge(), "EXPUNGE")
    check(data == [b"1"], f"EXPUNGE {data}")
    data = ok(m.select("INBOX", readonly=True), "EXAMINE")
    check(data == [b"1"], f"one message left: {data}")
    ok(m.close(), "CLOSE")

    # Rename, delete.
    ok(m.rename("Work", "Done"), "RENAME")
    ok(m.delete("Archive/2024"), "DELETE")
    names = list_names(m)
    check(names == ["Archive", "Done", "INBOX"], f"LIST after RENAME/DELETE {names}")
    typ, _ = m.logout()
    check(typ == "BYE", f"LOGOUT {typ}")
    print("imaplib session: OK")


if __name__ == "__main__":
    main()
