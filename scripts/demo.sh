#!/bin/sh
# `make run`: a local data directory with an imapd.conf, a self-signed
# certificate and a demo user, then imapd in the foreground on 127.0.0.1.
set -eu
IMAPD=${1:-target/debug/imapd}
PORT=${PORT:-1143}
TLS_PORT=${TLS_PORT:-1993}
DATA=${DATA:-$(pwd)/data}
mkdir -p "$DATA/config/msg" "$DATA/spool"
if [ ! -f "$DATA/imapd.conf" ]; then
  cat > "$DATA/imapd.conf" <<CONF
# imapd.conf for \`make run\` (every option: see README.md)
configdirectory: $DATA/config
partition-default: $DATA/spool
servername: localhost
allowplaintext: yes
tls_server_cert: $DATA/config/cert.pem
tls_server_key: $DATA/config/key.pem
failedloginpause: 1s
log_destination: stderr
CONF
fi
[ -f "$DATA/config/cert.pem" ] || "$IMAPD" selfsigned "$DATA/config/cert.pem" "$DATA/config/key.pem"
if ! grep -q '^demo:' "$DATA/config/passwd" 2>/dev/null; then
  echo demo | "$IMAPD" passwd -C "$DATA/imapd.conf" demo
fi
echo
echo "imapd on 127.0.0.1:$PORT (STARTTLS) and 127.0.0.1:$TLS_PORT (TLS); user demo, password demo"
echo "try:  curl -v --user demo:demo imap://127.0.0.1:$PORT/ -X CAPABILITY"
echo "      curl -k --user demo:demo imaps://127.0.0.1:$TLS_PORT/INBOX"
echo "stop with Ctrl-C"
echo
exec "$IMAPD" -C "$DATA/imapd.conf" --listen "127.0.0.1:$PORT" --listen-tls "127.0.0.1:$TLS_PORT"
