#!/bin/bash
# `make bench`: the same IMAP workloads against imapd, Dovecot and Cyrus,
# alternating servers round by round, printed as medians and ratios.
#
# Everything lives under target/bench/: the privately unpacked Cyrus, each
# server's config and data, the TLS certificate, logs and latest.json.
# Every server this script starts is stopped by PID when it exits.
#
# Environment:
#   QUICK=1            reduced run (1,000 messages, fewer rounds), < 2 minutes
#   MESSAGES=N         corpus size (default 10000, QUICK 1000)
#   ROUNDS=N           rounds per workload (default 5, QUICK 2)
#   WORKLOADS=a,b,...  subset of workloads (default: all)
#   SERVERS=imapd,dovecot,cyrus   subset of servers
#   IMAPD=path         imapd binary (default $CARGO_TARGET_DIR/release/imapd)
#   IMAPD_GUEST=path   guest component for imapd (guest_module), else the built-in one
#   BENCH=path         load generator (default $CARGO_TARGET_DIR/release/imapd-bench)
#   BENCH_ARGS="..."   extra arguments for `imapd-bench run`
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
B=$ROOT/target/bench
IMAPD=${IMAPD:-$TARGET/release/imapd}
BENCH=${BENCH:-$TARGET/release/imapd-bench}
QUICK=${QUICK:-}
if [ -n "$QUICK" ] && [ "$QUICK" != 0 ]; then
  MESSAGES=${MESSAGES:-1000}; ROUNDS=${ROUNDS:-2}; QUICKARG=--quick
else
  MESSAGES=${MESSAGES:-10000}; ROUNDS=${ROUNDS:-5}; QUICKARG=
fi
WORKLOADS=${WORKLOADS:-all}
SERVERS=${SERVERS:-imapd,dovecot,cyrus}
USERS="bench bench2"
PASS=benchpw
# Ports: plain / implicit TLS.
IMAPD_PORT=21143 IMAPD_TLS=21993
DOVECOT_PORT=22143 DOVECOT_TLS=22993
CYRUS_PORT=23143 CYRUS_TLS=23993

PIDS=()
say() { printf '[bench] %s\n' "$*" >&2; }
want() { case ",$SERVERS," in *",$1,"*) return 0 ;; esac; return 1; }

cleanup() {
  local p
  for p in "${PIDS[@]}"; do
    kill -TERM "$p" 2>/dev/null
  done
  for p in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$p" 2>/dev/null; then
      say "PID $p did not stop on TERM; sending KILL"
      kill -KILL "$p" 2>/dev/null
    fi
  done
  # Children a master left behind (Dovecot's and Cyrus's process trees):
  # anything still running from our private directories, by PID.
  local left
  left=$(for d in /proc/[0-9]*; do
    exe=$(readlink "$d/exe" 2>/dev/null) || continue
    case "$exe" in "$B"/*) echo "${d#/proc/}" ;; esac
  done)
  [ -n "$left" ] && { say "stopping leftover PIDs: $left"; kill -KILL $left 2>/dev/null; }
  PIDS=()
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_port() { # host port pid name
  for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; then return 0; fi
    kill -0 "$3" 2>/dev/null || { say "$4 exited during startup"; return 1; }
    sleep 0.1
  done
  say "$4 did not listen on $1:$2 within 10 s"; return 1
}

ensure_user() { id "$1" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin --user-group "$1"; }

# ---------------------------------------------------------------- install
install_peers() {
  local need=()
  # dovecot-imapd and cyrus-imapd both provide imap-server and conflict.
  # Neither is ever removed here (another user of the machine may need the
  # one installed): dovecot-core comes from apt, and dovecot-imapd is used
  # from the system when installed, else unpacked privately like Cyrus.
  if want dovecot; then need+=(dovecot-core); fi
  if want cyrus; then
    command -v saslpasswd2 >/dev/null || need+=(sasl2-bin)
    # Cyrus's libraries' dependencies; cyrus-imapd itself conflicts with
    # dovecot-imapd (both provide imap-server), so it is unpacked privately.
    need+=(libclamav12 libical3 libicu72 libjansson4 libkrb5-3 libldap-2.5-0 libpcre3 libpq5
           libsqlite3-0 libwrap0 libxapian30 libxml2 libzephyr4 libcom-err2 libsasl2-modules)
  fi
  local missing=()
  for p in "${need[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    say "apt-get install ${missing[*]}"
    # Keep the packages' own daemons from starting (containers: policy-rc.d).
    # --no-remove: fail rather than remove anything already installed.
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-remove --no-install-recommends \
      "${missing[@]}" >"$B/apt.log" 2>&1 || { apt-get update >>"$B/apt.log" 2>&1 &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y --no-remove --no-install-recommends \
      "${missing[@]}" >>"$B/apt.log" 2>&1; } || say "apt-get install failed (see $B/apt.log)"
  fi
  if want dovecot && ! [ -x /usr/lib/dovecot/imap ] && ! [ -x "$B/dovecot-root/usr/lib/dovecot/imap" ]; then
    say "dovecot-imapd is not installed (cyrus-imapd may be): unpacking it into $B/dovecot-root"
    mkdir -p "$B/debs" && rm -f "$B"/debs/dovecot-imapd_*.deb
    (cd "$B/debs" && apt-get download dovecot-imapd >"$B/apt-download.log" 2>&1) &&
      dpkg-deb -x "$B"/debs/dovecot-imapd_*.deb "$B/dovecot-root" ||
      say "could not fetch dovecot-imapd (see $B/apt-download.log)"
  fi
  if want cyrus && ! [ -x "$B/cyrus-root/usr/lib/cyrus/bin/master" ]; then
    say "unpacking cyrus-common and cyrus-imapd into $B/cyrus-root"
    mkdir -p "$B/debs" && rm -f "$B"/debs/cyrus-*.deb
    (cd "$B/debs" && apt-get download cyrus-common cyrus-imapd >"$B/apt-download.log" 2>&1) &&
      for d in "$B"/debs/cyrus-*.deb; do dpkg-deb -x "$d" "$B/cyrus-root"; done ||
      say "could not fetch Cyrus (see $B/apt-download.log)"
  fi
}

make_cert() {
  mkdir -p "$B/tls"
  [ -f "$B/tls/cert.pem" ] && return 0
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=localhost \
    -keyout "$B/tls/key.pem" -out "$B/tls/cert.pem" >/dev/null 2>&1
  chmod 644 "$B/tls/cert.pem" "$B/tls/key.pem"
}

# ---------------------------------------------------------------- Dovecot
start_dovecot() {
  local d=$B/dovecot
  [ -x /usr/sbin/dovecot ] || { say "Dovecot (dovecot-core) is not installed: skipped"; return 1; }
  local libexec=/usr/lib/dovecot
  [ -x $libexec/imap ] || libexec=$B/dovecot-root/usr/lib/dovecot
  [ -x "$libexec/imap" ] || { say "no dovecot-imapd binaries: Dovecot skipped"; return 1; }
  rm -rf "$d" && mkdir -p "$d/run" "$d/home" "$d/log"
  ensure_user imapbench
  local uid gid
  uid=$(id -u imapbench) gid=$(id -g imapbench)
  : >"$d/passwd"
  for u in $USERS; do
    echo "$u:{PLAIN}$PASS:$uid:$gid::$d/home/$u::" >>"$d/passwd"
    mkdir -p "$d/home/$u"
  done
  chown -R imapbench:imapbench "$d/home"
  chmod 755 "$d"
  cat >"$d/dovecot.conf" <<CONF
# Private Dovecot for the benchmark (scripts/bench.sh)
protocols = imap
listen = 127.0.0.1
base_dir = $d/run
state_dir = $d/state
instance_name = bench-dovecot
log_path = $d/log/dovecot.log
info_log_path = $d/log/dovecot.log
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:~/Maildir
first_valid_uid = 1
ssl = yes
ssl_cert = <$B/tls/cert.pem
ssl_key = <$B/tls/key.pem
mail_max_userip_connections = 5000
default_process_limit = 2000
default_client_limit = 5000
default_vsz_limit = 1G
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $d/passwd
}
userdb {
  driver = passwd-file
  args = username_format=%u $d/passwd
}
# Login processes in Dovecot's "high-performance" mode: a few long-lived
# processes each serving many clients; one imap process per session.
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $DOVECOT_PORT
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = $DOVECOT_TLS
    ssl = yes
  }
  service_count = 0
  process_min_avail = 2
  client_limit = 2000
  executable = $libexec/imap-login
}
service imap {
  process_limit = 2000
  executable = $libexec/imap
}
service imap-hibernate {
  executable = $libexec/imap-hibernate
}
service imap-urlauth {
  executable = $libexec/imap-urlauth
}
service imap-urlauth-login {
  executable = $libexec/imap-urlauth-login
}
service imap-urlauth-worker {
  executable = $libexec/imap-urlauth-worker
}
service anvil {
  client_limit = 10000
}
service auth {
  client_limit = 10000
}
protocol imap {
  mail_max_userip_connections = 5000
}
CONF
  mkdir -p "$d/state"
  /usr/sbin/dovecot -F -c "$d/dovecot.conf" >"$d/log/stdout.log" 2>&1 &
  local pid=$!
  PIDS+=("$pid")
  wait_port 127.0.0.1 "$DOVECOT_PORT" "$pid" Dovecot || return 1
  DOVECOT_PID=$pid
  say "Dovecot $(/usr/sbin/dovecot --version | cut -d' ' -f1) PID $pid on 127.0.0.1:$DOVECOT_PORT (TLS $DOVECOT_TLS)"
}

# ---------------------------------------------------------------- Cyrus
start_cyrus() {
  local d=$B/cyrus root=$B/cyrus-root
  local bin=$root/usr/lib/cyrus/bin
  [ -x "$bin/master" ] || { say "Cyrus could not be unpacked: skipped"; return 1; }
  command -v saslpasswd2 >/dev/null || { say "saslpasswd2 (sasl2-bin) missing: Cyrus skipped"; return 1; }
  ensure_user cyrus
  rm -rf "$d" && mkdir -p "$d/conf/socket" "$d/conf/proc" "$d/conf/log" "$d/spool" "$d/run"
  chmod 755 "$d" "$B" "$root"
  cat >"$d/imapd.conf" <<CONF
# Private Cyrus for the benchmark (scripts/bench.sh)
configdirectory: $d/conf
partition-default: $d/spool
defaultpartition: default
servername: localhost
service_path: $bin
allowplaintext: yes
sasl_pwcheck_method: auxprop
sasl_auxprop_plugin: sasldb
sasl_sasldb_path: $d/conf/sasldb2
sasl_mech_list: PLAIN LOGIN
autocreate_quota: 0
autocreate_post: yes
unixhierarchysep: yes
altnamespace: yes
tls_server_cert: $B/tls/cert.pem
tls_server_key: $B/tls/key.pem
idlesocket: $d/conf/socket/idle
lmtpsocket: $d/conf/socket/lmtp
notifysocket: $d/conf/socket/notify
syslog_prefix: bench-cyrus
CONF
  cat >"$d/cyrus.conf" <<CONF
# Private Cyrus master config for the benchmark (scripts/bench.sh)
START {
  recover cmd="$bin/ctl_cyrusdb -C $d/imapd.conf -r"
}
SERVICES {
  imap  cmd="$bin/imapd -C $d/imapd.conf" listen="127.0.0.1:$CYRUS_PORT" prefork=5 maxchild=2000 maxfds=4096
  imaps cmd="$bin/imapd -C $d/imapd.conf -s" listen="127.0.0.1:$CYRUS_TLS" prefork=2 maxchild=2000 maxfds=4096
}
EVENTS {
}
DAEMON {
}
CONF
  for u in $USERS; do
    echo "$PASS" | saslpasswd2 -p -c -f "$d/conf/sasldb2" -u localhost "$u" ||
      { say "saslpasswd2 failed: Cyrus skipped"; return 1; }
  done
  chown -R cyrus:cyrus "$d"
  chmod 640 "$d/conf/sasldb2"
  LD_LIBRARY_PATH=$root/usr/lib/x86_64-linux-gnu \
    "$bin/master" -C "$d/imapd.conf" -M "$d/cyrus.conf" -p "$d/run/master.pid" -l 2048 -D \
    >"$d/master.log" 2>&1 &
  local pid=$!
  PIDS+=("$pid")
  wait_port 127.0.0.1 "$CYRUS_PORT" "$pid" Cyrus || { tail -5 "$d/master.log" >&2; return 1; }
  CYRUS_PID=$pid
  say "Cyrus $(LD_LIBRARY_PATH=$root/usr/lib/x86_64-linux-gnu "$bin/cyr_info" -C "$d/imapd.conf" -M "$d/cyrus.conf" version 2>/dev/null | awk '{print $2}') PID $pid on 127.0.0.1:$CYRUS_PORT (TLS $CYRUS_TLS)"
}

# ---------------------------------------------------------------- imapd
start_imapd() {
  local d=$B/imapd
  [ -x "$IMAPD" ] || { say "imapd binary $IMAPD not found: skipped"; return 1; }
  rm -rf "$d" && mkdir -p "$d/config/msg" "$d/spool"
  cat >"$d/imapd.conf" <<CONF
# imapd for the benchmark (scripts/bench.sh)
configdirectory: $d/config
partition-default: $d/spool
servername: localhost
allowplaintext: yes
tls_server_cert: $B/tls/cert.pem
tls_server_key: $B/tls/key.pem
max_sessions: 2000
CONF
  [ -n "${IMAPD_GUEST:-}" ] && echo "guest_module: $IMAPD_GUEST" >>"$d/imapd.conf"
  : >"$d/config/passwd"
  for u in $USERS; do echo "$u:{PLAIN}$PASS" >>"$d/config/passwd"; done
  "$IMAPD" precompile -C "$d/imapd.conf" >"$d/precompile.log" 2>&1 || true
  "$IMAPD" -C "$d/imapd.conf" --listen "127.0.0.1:$IMAPD_PORT" --listen-tls "127.0.0.1:$IMAPD_TLS" \
    >"$d/imapd.log" 2>&1 &
  local pid=$!
  PIDS+=("$pid")
  wait_port 127.0.0.1 "$IMAPD_PORT" "$pid" imapd || { tail -5 "$d/imapd.log" >&2; return 1; }
  IMAPD_PID=$pid
  say "imapd PID $pid on 127.0.0.1:$IMAPD_PORT (TLS $IMAPD_TLS)"
}

# ---------------------------------------------------------------- main
main() {
  mkdir -p "$B"
  [ -x "$BENCH" ] || { say "load generator $BENCH not built (make bench builds it)"; exit 1; }
  # 1,000 IDLE connections per server, plus the client's own sockets.
  ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
  install_peers
  make_cert
  local specs=() skipped=()
  if want imapd; then
    if start_imapd; then
      specs+=(--server "imapd=127.0.0.1:$IMAPD_PORT,bench,$PASS,tls=127.0.0.1:$IMAPD_TLS,pid=$IMAPD_PID")
    else skipped+=(imapd); fi
  fi
  if want dovecot; then
    if start_dovecot; then
      specs+=(--server "dovecot=127.0.0.1:$DOVECOT_PORT,bench,$PASS,tls=127.0.0.1:$DOVECOT_TLS,pid=$DOVECOT_PID")
    else skipped+=(dovecot); fi
  fi
  if want cyrus; then
    if start_cyrus; then
      specs+=(--server "cyrus=127.0.0.1:$CYRUS_PORT,bench,$PASS,tls=127.0.0.1:$CYRUS_TLS,pid=$CYRUS_PID")
    else skipped+=(cyrus); fi
  fi
  [ ${#skipped[@]} -gt 0 ] && say "NOT RUNNING: ${skipped[*]} (see messages above); benchmarking the others"
  [ ${#specs[@]} -gt 0 ] || { say "no server started"; exit 1; }

  say "loading $MESSAGES messages into each INBOX through APPEND"
  "$BENCH" load "${specs[@]}" --messages "$MESSAGES" ||
    say "loading failed on some server (its workloads will fail and say why)"

  mkdir -p "$B/history"
  # shellcheck disable=SC2086
  "$BENCH" run "${specs[@]}" --messages "$MESSAGES" --rounds "$ROUNDS" \
    --workloads "$WORKLOADS" --json "$B/latest.json" $QUICKARG ${BENCH_ARGS:-}
  local rc=$?
  [ -f "$B/latest.json" ] && cp "$B/latest.json" "$B/history/$(date -u +%Y%m%dT%H%M%SZ).json"
  for n in "${skipped[@]}"; do echo "NOTE: $n was not running (could not be installed or started)"; done
  return $rc
}

main "$@"
