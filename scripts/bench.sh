#!/bin/bash
# `make bench`: the same IMAP workloads against imapd, Dovecot and Cyrus,
# alternating servers round by round, printed as medians and ratios.
#
# Everything lives under target/bench/: the privately unpacked Cyrus, each
# server's config and data, the TLS certificate, logs and latest.json.
# Every server this script starts is stopped by PID when it exits.
#
# Steps: install the peers, start the servers, load the corpus into each,
# then one `imapd-bench run` per workload (all servers alternating, as one
# run would), then `imapd-bench report` merges them into one table and
# latest.json. Every step that waits on a server is bounded: a server that
# does not serve in time is named ("did not serve within N s"), stopped by
# PID and left out of the remaining steps; the others carry on, and the
# results lack it. The exit status is 0 when imapd served to the end (with
# SERVERS without imapd: when any server did), else 1 with the reason.
#
# Environment:
#   QUICK=1            reduced run (1,000 messages, fewer rounds), < 2 minutes
#   MESSAGES=N         corpus size (default 10000, QUICK 1000)
#   ROUNDS=N           rounds per workload (default 5, QUICK 2)
#   WORKLOADS=a,b,...  subset of workloads (default: all; v, noisy-neighbour,
#                      is not in all)
#   SERVERS=imapd,dovecot,cyrus   subset of servers
#   IMAPD=path         imapd binary (default $CARGO_TARGET_DIR/release/imapd)
#   IMAPD_GUEST=path   guest component for imapd (guest_module), else the built-in one
#   BENCH=path         load generator (default $CARGO_TARGET_DIR/release/imapd-bench)
#   BENCH_ARGS="..."   extra arguments for `imapd-bench run`
#   IMAPD_QUIET=user   the quiet tenant's login on imapd (workload v; default
#                      quiet@b.bench, another domain than bench's: imapd then
#                      gets virtdomains; a name without @ leaves them out)
#
# Time limits, in seconds (the defaults are generous: they are for servers
# that hang, not slow ones):
#   READY_TIMEOUT=S     for a server to greet and accept LOGIN: after it
#                       starts, and again after loading and after every
#                       workload (default 30)
#   LOAD_TIMEOUT=S      to APPEND the corpus into one server
#                       (default 120 + MESSAGES/10: 1120 full, 220 QUICK)
#   RUN_TIMEOUT=S       one run of one workload on one server (imapd-bench
#                       run --timeout; a server past it gets `failed` for that
#                       workload) (default 600, QUICK 120)
#   WORKLOAD_TIMEOUT=S  one workload, every round on every server, a bound on
#                       imapd-bench itself (default (ROUNDS+1) x servers x
#                       RUN_TIMEOUT + 60)
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
B=$ROOT/target/bench
IMAPD=${IMAPD:-$TARGET/release/imapd}
BENCH=${BENCH:-$TARGET/release/imapd-bench}
QUICK=${QUICK:-}
if [ -n "$QUICK" ] && [ "$QUICK" != 0 ]; then
  MESSAGES=${MESSAGES:-1000}; ROUNDS=${ROUNDS:-2}; QUICKARG=--quick
  RUN_TIMEOUT=${RUN_TIMEOUT:-120}
else
  MESSAGES=${MESSAGES:-10000}; ROUNDS=${ROUNDS:-5}; QUICKARG=
  RUN_TIMEOUT=${RUN_TIMEOUT:-600}
fi
READY_TIMEOUT=${READY_TIMEOUT:-30}
for v in MESSAGES ROUNDS READY_TIMEOUT RUN_TIMEOUT ${LOAD_TIMEOUT:+LOAD_TIMEOUT} ${WORKLOAD_TIMEOUT:+WORKLOAD_TIMEOUT}; do
  [[ ${!v} =~ ^[0-9]+$ ]] || { echo "[bench] $v=${!v}: not a number of seconds/messages/rounds" >&2; exit 2; }
done
LOAD_TIMEOUT=${LOAD_TIMEOUT:-$((120 + MESSAGES / 10))}
WORKLOADS=${WORKLOADS:-all}
SERVERS=${SERVERS:-imapd,dovecot,cyrus}
USERS="bench bench2"
PASS=benchpw
# Workload v (noisy-neighbour): the quiet tenant, with QUIET_MESSAGES corpus
# messages in its INBOX, beside bench (the noisy one). On imapd it is a user
# of another domain (tenant) than bench: with an @, imapd.conf gets
# `virtdomains: userid` and `defaultdomain: a.bench` (bench and bench2 stay
# plain names in the default domain). Dovecot and Cyrus: plain `quiet`.
IMAPD_QUIET=${IMAPD_QUIET:-quiet@b.bench}
QUIET_MESSAGES=100
# Ports: plain / implicit TLS.
IMAPD_PORT=21143 IMAPD_TLS=21993
DOVECOT_PORT=22143 DOVECOT_TLS=22993
CYRUS_PORT=23143 CYRUS_TLS=23993

PIDS=()       # every process started here, stopped on exit
ACTIVE=()     # servers serving, in start (and alternation) order
NOTES=()      # for the report: servers left out and why, lost workloads
GEN_PID=      # the running `timeout imapd-bench ...`, if any
declare -A PID PORT LOG SPEC BANNER QUIET   # per server name
say() { printf '[bench] %s\n' "$*" >&2; }
want() { case ",$SERVERS," in *",$1,"*) return 0 ;; esac; return 1; }

cleanup() {
  local p
  [ -n "$GEN_PID" ] && kill -TERM "$GEN_PID" 2>/dev/null
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

# `timeout SECS CMD...` in the background, waited for, so that Ctrl-C and
# TERM reach this script (and its cleanup) at once; timeout's status.
bounded() {
  timeout -k 10 "$@" &
  GEN_PID=$!
  wait "$GEN_PID"
  local rc=$?
  GEN_PID=
  return "$rc"
}

# 0 when 127.0.0.1:$1 greets and accepts LOGIN as bench within 5 s,
# 2 when it greets but refuses the LOGIN, else 1.
serves() {
  # shellcheck disable=SC2016 # expanded by that bash
  timeout --foreground -k 1 5 bash -c '
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    IFS= read -r -t 5 l <&3 || exit 1
    case $l in "* OK"*) ;; *) exit 1 ;; esac
    printf "r1 LOGIN %s %s\r\n" "$2" "$3" >&3
    while IFS= read -r -t 5 l <&3; do
      case $l in
        "r1 OK"*) printf "r2 LOGOUT\r\n" >&3; exit 0 ;;
        "r1 "*) exit 2 ;;
      esac
    done
    exit 1' serves "$1" bench "$PASS" 2>/dev/null
}

# A started server: its PID, port, log and --server spec.
launched() { # name pid port tls-port log
  PIDS+=("$2")
  PID[$1]=$2 PORT[$1]=$3 LOG[$1]=$5
  SPEC[$1]="$1=127.0.0.1:$3,bench,$PASS,tls=127.0.0.1:$4,pid=$2,quiet=${QUIET[$1]:-quiet}"
}

# Wait (at most READY_TIMEOUT s) until server $1 serves; else stop it and
# leave it out. $2: when, for the message ("after starting", ...).
ready() {
  local n=$1 end=$((SECONDS + READY_TIMEOUT)) rc
  while :; do
    serves "${PORT[$n]}"; rc=$?
    [ "$rc" = 0 ] && return 0
    if ! kill -0 "${PID[$n]}" 2>/dev/null; then drop "$n" "exited $2"; return 1; fi
    if [ "$SECONDS" -ge "$end" ]; then
      if [ "$rc" = 2 ]; then drop "$n" "refused LOGIN for $READY_TIMEOUT s $2"
      else drop "$n" "did not serve within $READY_TIMEOUT s $2"; fi
      return 1
    fi
    sleep 0.5
  done
}

# Say why, stop server $1 by PID and leave it out of the remaining steps.
drop() { # name why
  say "$1: $2 (see ${LOG[$1]}); skipping it"
  tail -n 5 "${LOG[$1]}" 2>/dev/null | sed 's/^/[bench]   | /' >&2
  NOTES+=("$1 was left out: $2 (see ${LOG[$1]})")
  stop_tree "${PID[$1]}"
  local keep=() n
  for n in "${ACTIVE[@]}"; do [ "$n" = "$1" ] || keep+=("$n"); done
  ACTIVE=("${keep[@]}")
}

descendants() { # pid: its child processes, recursively
  local d k v ppid kids=() front=("$1") p
  declare -A children
  for d in /proc/[0-9]*; do
    ppid=
    while read -r k v; do [ "$k" = PPid: ] && { ppid=$v; break; }; done 2>/dev/null <"$d/status"
    [ -n "$ppid" ] && children[$ppid]+="${d#/proc/} "
  done
  while [ ${#front[@]} -gt 0 ]; do
    p=${front[0]} front=("${front[@]:1}")
    for k in ${children[$p]:-}; do kids+=("$k") front+=("$k"); done
  done
  echo "${kids[*]}"
}

stop_tree() { # pid: TERM it, then KILL whatever is left of its process tree
  local p=$1 tree q keep=()
  tree=$(descendants "$p")
  kill -TERM "$p" 2>/dev/null
  for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$p" 2>/dev/null && say "PID $p did not stop on TERM; sending KILL"
  for q in $p $tree; do kill -KILL "$q" 2>/dev/null; done
  wait "$p" 2>/dev/null   # reaped here: no "Killed" job notice from bash
  for q in "${PIDS[@]}"; do [ "$q" = "$p" ] || keep+=("$q"); done
  PIDS=("${keep[@]}")
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
  mkdir -p "$B/tls" && chmod 755 "$B/tls"   # Cyrus reads it as user cyrus
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
  for u in $USERS quiet; do
    echo "$u:{PLAIN}$PASS:$uid:$gid::$d/home/$u::" >>"$d/passwd"
    mkdir -p "$d/home/$u"
  done
  chown -R "imapbench:$(id -gn imapbench)" "$d/home"
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
  # Its own errors before log_path is open (config) go to the same log.
  /usr/sbin/dovecot -F -c "$d/dovecot.conf" >>"$d/log/dovecot.log" 2>&1 &
  local pid=$!
  launched dovecot "$pid" "$DOVECOT_PORT" "$DOVECOT_TLS" "$d/log/dovecot.log"
  BANNER[dovecot]="Dovecot $(/usr/sbin/dovecot --version | cut -d' ' -f1) PID $pid on 127.0.0.1:$DOVECOT_PORT (TLS $DOVECOT_TLS)"
}

# ---------------------------------------------------------------- Cyrus
start_cyrus() {
  local d=$B/cyrus root=$B/cyrus-root
  local bin=$root/usr/lib/cyrus/bin
  [ -x "$bin/master" ] || { say "Cyrus could not be unpacked: skipped"; return 1; }
  command -v saslpasswd2 >/dev/null || { say "saslpasswd2 (sasl2-bin) missing: Cyrus skipped"; return 1; }
  # Debian's cyrus-common creates the user cyrus with primary group mail
  # (and no group cyrus); created here, it gets its own group.
  ensure_user cyrus
  local group
  group=$(id -gn cyrus) || { say "no user cyrus: Cyrus skipped"; return 1; }
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
  for u in $USERS quiet; do
    echo "$PASS" | saslpasswd2 -p -c -f "$d/conf/sasldb2" -u localhost "$u" ||
      { say "saslpasswd2 failed: Cyrus skipped"; return 1; }
  done
  # Cyrus's processes run as cyrus: its directories (sockets, databases,
  # spool) must be its own, else master.log fills with `bind: Permission
  # denied` while the ports accept connections that are never greeted.
  chown -R "cyrus:$group" "$d" || { say "chown -R cyrus:$group $d failed: Cyrus skipped"; return 1; }
  chmod 640 "$d/conf/sasldb2"
  # shellcheck disable=SC2016 # expanded by that sh
  if command -v runuser >/dev/null &&
     ! runuser -u cyrus -- sh -c 'test -w "$1" && test -r "$2"' sh "$d/conf/socket" "$B/tls/key.pem"; then
    say "user cyrus cannot write $d/conf/socket or read $B/tls/key.pem (a directory above $B closed to others?): Cyrus skipped"
    return 1
  fi
  LD_LIBRARY_PATH=$root/usr/lib/x86_64-linux-gnu \
    "$bin/master" -C "$d/imapd.conf" -M "$d/cyrus.conf" -p "$d/run/master.pid" -l 2048 -D \
    >"$d/master.log" 2>&1 &
  local pid=$!
  launched cyrus "$pid" "$CYRUS_PORT" "$CYRUS_TLS" "$d/master.log"
  BANNER[cyrus]="Cyrus $(LD_LIBRARY_PATH=$root/usr/lib/x86_64-linux-gnu timeout 10 "$bin/cyr_info" -C "$d/imapd.conf" -M "$d/cyrus.conf" version 2>/dev/null | awk '{print $2}') PID $pid on 127.0.0.1:$CYRUS_PORT (TLS $CYRUS_TLS)"
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
log_destination: stderr
CONF
  [ -n "${IMAPD_GUEST:-}" ] && echo "guest_module: $IMAPD_GUEST" >>"$d/imapd.conf"
  # The quiet tenant (workload v) in another domain than bench's.
  [[ $IMAPD_QUIET == *@* ]] && printf 'virtdomains: userid\ndefaultdomain: a.bench\n' >>"$d/imapd.conf"
  QUIET[imapd]=$IMAPD_QUIET
  : >"$d/config/passwd"
  for u in $USERS "$IMAPD_QUIET"; do echo "$u:{PLAIN}$PASS" >>"$d/config/passwd"; done
  timeout 600 "$IMAPD" precompile -C "$d/imapd.conf" >"$d/precompile.log" 2>&1 || true
  "$IMAPD" -C "$d/imapd.conf" --listen "127.0.0.1:$IMAPD_PORT" --listen-tls "127.0.0.1:$IMAPD_TLS" \
    >"$d/imapd.log" 2>&1 &
  local pid=$!
  launched imapd "$pid" "$IMAPD_PORT" "$IMAPD_TLS" "$d/imapd.log"
  BANNER[imapd]="imapd PID $pid on 127.0.0.1:$IMAPD_PORT (TLS $IMAPD_TLS)"
}

# ------------------------------------------------------- u: hot swap
# imapd's alone: a second imapd (own configdirectory, same spool, with
# idle_hibernate) and `imapd-bench swap` against it: 1,000 sessions, half
# hibernated, swapped to the hostile test build of the guest and back.
swap_bench() {
  if [[ " ${ACTIVE[*]} " != *" imapd "* ]]; then
    say "workload u (hot swap) needs imapd: skipped"; return 0
  fi
  local d=$B/imapd-swap port=$((IMAPD_PORT + 7)) pid rc
  local to=$TARGET/wasm32-wasip2/guest-hostile/guest.wasm
  local back=${IMAPD_GUEST:-$TARGET/wasm32-wasip2/guest-release/guest.wasm}
  [ -f "$to" ] || { say "workload u: $to not built (make hostile-guest): skipped"; return 0; }
  rm -rf "$d" && mkdir -p "$d/config"
  cp "$B/imapd/config/passwd" "$d/config/"
  install -m 644 "$to" "$d/to.wasm"
  install -m 644 "$back" "$d/back.wasm"
  install -m 644 "$back" "$d/config/guest.wasm"
  sed -e "s|^configdirectory: .*|configdirectory: $d/config|" -e '/^guest_module:/d' \
    "$B/imapd/imapd.conf" >"$d/imapd.conf"
  echo "idle_hibernate: 2" >>"$d/imapd.conf"
  { cat "$d/imapd.conf"; echo "guest_module: $d/to.wasm"; } >"$d/precompile.conf"
  timeout 600 "$IMAPD" precompile -C "$d/imapd.conf" >"$d/precompile.log" 2>&1 || true
  timeout 600 "$IMAPD" precompile -C "$d/precompile.conf" >>"$d/precompile.log" 2>&1 || true
  "$IMAPD" -C "$d/imapd.conf" --listen "127.0.0.1:$port" >"$d/imapd.log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  local end=$((SECONDS + 60))
  until serves "$port"; do
    [ "$SECONDS" -lt "$end" ] && kill -0 "$pid" 2>/dev/null || { say "workload u: the swap server did not start (see $d/imapd.log)"; return 0; }
    sleep 0.5
  done
  say "u (hot swap): 1000 sessions on imapd PID $pid, half hibernated; swap to the hostile test build and back"
  bounded 900 "$BENCH" swap --server "imapd=127.0.0.1:$port,bench,$PASS,pid=$pid" --imapd "$IMAPD" \
    --conf "$d/imapd.conf" --to "$d/to.wasm" --back "$d/back.wasm" >"$B/swap.json"
  rc=$?
  kill "$pid" 2>/dev/null
  if [ "$rc" = 0 ]; then
    cat "$B/swap.json"
    NOTES+=("u (hot swap, imapd only): $(tr -d '\n ' <"$B/swap.json")")
  else
    say "workload u failed (exit $rc; see $d/imapd.log)"
    NOTES+=("workload u (hot swap) failed")
  fi
}

# ---------------------------------------------------------------- main
main() {
  mkdir -p "$B"
  [ -x "$BENCH" ] || { say "load generator $BENCH not built (make bench builds it)"; exit 1; }
  # 1,000 IDLE connections per server, plus the client's own sockets.
  ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
  install_peers
  make_cert
  local n skipped=()
  for n in imapd dovecot cyrus; do
    want "$n" || continue
    if ! "start_$n"; then
      skipped+=("$n")
      NOTES+=("$n was not running (could not be installed or started; see the messages before the results)")
    elif ready "$n" "after starting"; then
      ACTIVE+=("$n")
      say "${BANNER[$n]}"
    fi
  done
  [ ${#skipped[@]} -gt 0 ] && say "NOT RUNNING: ${skipped[*]} (see messages above); benchmarking the others"
  [ ${#ACTIVE[@]} -gt 0 ] || { say "FAILED: no server serves"; exit 1; }

  local wl=() w i=0 part limit specs
  if [ "$WORKLOADS" = all ]; then
    # bench/src/workloads.rs ALL, and u; not v (noisy-neighbour: 20 s and
    # the server's winding down per server and round)
    wl=(a b c d e1 e2 e3 e4 f g h i j1 j2 k l m n o s1 s2 s3 t u)
  else
    IFS=, read -ra wl <<<"$WORKLOADS"
  fi
  local quiet=
  for w in "${wl[@]}"; do
    case $w in v | v[0-9] | noisy-* | quiet-*) quiet=1 ;; esac
  done

  say "loading $MESSAGES messages into each INBOX through APPEND (at most $LOAD_TIMEOUT s a server)"
  local rc
  for n in "${ACTIVE[@]}"; do
    bounded "$LOAD_TIMEOUT" "$BENCH" load --server "${SPEC[$n]}" --messages "$MESSAGES"
    rc=$?
    case $rc in
      0) ready "$n" "after loading" ;;
      124 | 137) drop "$n" "did not serve within $LOAD_TIMEOUT s while loading $MESSAGES messages" ;;
      *) say "$n: loading failed (its workloads on INBOX will be skipped and say why)"
         ready "$n" "after loading" ;;
    esac
  done
  # Workload v's quiet tenant: its own small INBOX (the first messages of
  # the corpus). A failure here fails v on that server, saying why.
  if [ -n "$quiet" ]; then
    for n in "${ACTIVE[@]}"; do
      say "$n: loading $QUIET_MESSAGES messages into ${QUIET[$n]:-quiet}'s INBOX (workload v)"
      bounded "$LOAD_TIMEOUT" "$BENCH" load --server "$n=127.0.0.1:${PORT[$n]},${QUIET[$n]:-quiet},$PASS" \
        --messages "$QUIET_MESSAGES"
      rc=$?
      case $rc in
        0) ;;
        124 | 137) drop "$n" "did not serve within $LOAD_TIMEOUT s while loading ${QUIET[$n]:-quiet}'s INBOX" ;;
        *) say "$n: loading ${QUIET[$n]:-quiet}'s INBOX failed (workload v will fail there)"
           ready "$n" "after loading" ;;
      esac
    done
  fi

  # One `imapd-bench run` per workload, each under its own time limit.
  rm -rf "$B/parts" "$B/swap.json"
  mkdir -p "$B/parts" "$B/history"
  local again served lost
  for w in "${wl[@]}"; do
    i=$((i + 1))
    if [ "$w" = u ]; then swap_bench; continue; fi
    part=$B/parts/$(printf %02d "$i")-$w
    again=
    while :; do
      if [ ${#ACTIVE[@]} -eq 0 ]; then
        say "no server left: workload $w and the rest not run"
        NOTES+=("no server left: workload $w and the rest not run")
        break 2
      fi
      specs=()
      for n in "${ACTIVE[@]}"; do specs+=(--server "${SPEC[$n]}"); done
      limit=${WORKLOAD_TIMEOUT:-$(((ROUNDS + 1) * ${#ACTIVE[@]} * RUN_TIMEOUT + 60))}
      # shellcheck disable=SC2086 # QUICKARG, BENCH_ARGS: words
      bounded "$limit" "$BENCH" run "${specs[@]}" --messages "$MESSAGES" --rounds "$ROUNDS" \
        --workloads "$w" --timeout "$RUN_TIMEOUT" --json "$part.json" $QUICKARG ${BENCH_ARGS:-} \
        >"$part.out"
      rc=$?
      lost=
      case $rc in
        0) ;;
        124 | 137) lost="did not finish within $limit s" ;;
        *) lost="imapd-bench run exited with $rc (see above)" ;;
      esac
      [ -n "$lost" ] && { rm -f "$part.json"; say "workload $w $lost"; }
      served=${#ACTIVE[@]}
      for n in "${ACTIVE[@]}"; do ready "$n" "after workload $w"; done
      # Lost to a server that stopped serving: once more without it.
      if [ -n "$lost" ] && [ -z "$again" ] && [ ${#ACTIVE[@]} -lt "$served" ] && [ ${#ACTIVE[@]} -gt 0 ]; then
        say "workload $w again, on ${ACTIVE[*]}"
        again=1
        continue
      fi
      [ -n "$lost" ] && NOTES+=("workload $w $lost: no results for it")
      break
    done
  done

  # One table and latest.json from the parts.
  local args=() p
  for p in "$B"/parts/*.json; do [ -f "$p" ] && args+=(--part "$p"); done
  rm -f "$B/latest.json"
  if [ ${#args[@]} -gt 0 ]; then
    for p in "${NOTES[@]}"; do args+=(--note "$p"); done
    bounded 120 "$BENCH" report "${args[@]}" --json "$B/latest.json" || say "imapd-bench report failed"
    [ -f "$B/latest.json" ] && cp "$B/latest.json" "$B/history/$(date -u +%Y%m%dT%H%M%SZ).json"
  else
    for p in "${NOTES[@]}"; do echo "NOTE: $p"; done
  fi

  if want imapd && [[ " ${ACTIVE[*]} " != *" imapd "* ]]; then
    say "FAILED: imapd did not serve through the benchmark (see the messages above and $B/imapd/)"
    return 1
  fi
  [ ${#ACTIVE[@]} -gt 0 ] || { say "FAILED: no server served through the benchmark"; return 1; }
  [ -f "$B/latest.json" ] || [[ " ${wl[*]} " == " u " && -s "$B/swap.json" ]] ||
    { say "FAILED: no results"; return 1; }
}

main "$@"
