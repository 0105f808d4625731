"""AUTHENTICATE with SCRAM through Python's imaplib and the scramp library
(an implementation independent of imapd's), for tests/all/sasl.rs.

usage: login.py HOST PORT tls|plain USER PASSWORD MECHANISM
Prints "OK <tagged reply>" or "FAIL <reason>"; channel binding
(tls-server-end-point) is used for the -PLUS mechanisms.
"""
import imaplib
import ssl
import sys

import scramp

host, port, mode, user, password, mech = sys.argv[1:7]
if mode == "tls":
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    conn = imaplib.IMAP4_SSL(host, int(port), ssl_context=ctx)
else:
    conn = imaplib.IMAP4(host, int(port))

binding = None
if mech.endswith("-PLUS"):
    binding = ("tls-server-end-point", conn.sock)
client = scramp.ScramClient([mech], user, password, channel_binding=binding)
step = [0]


def respond(challenge):
    step[0] += 1
    if step[0] == 1:
        return client.get_client_first()
    if step[0] == 2:
        client.set_server_first(challenge.decode())
        return client.get_client_final()
    # The server's final message (v=...) arrives as a challenge; scramp
    # checks the server's signature here.
    client.set_server_final(challenge.decode())
    return b""


try:
    typ, data = conn.authenticate(mech, respond)
    if step[0] != 3:
        print("FAIL server signature never checked")
        sys.exit(1)
    print("OK", typ, data[0].decode(errors="replace"))
    typ, data = conn.select("INBOX")
    print("SELECT", typ)
    conn.logout()
except Exception as e:  # noqa: BLE001 - the test reads the message
    print("FAIL", type(e).__name__, e)
    sys.exit(1)
