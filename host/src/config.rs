//! `imapd.conf`: Cyrus's configuration file, read with Cyrus's rules.
//!
//! The syntax is cyrus-compat 3.1 (Cyrus `lib/libconfig.c` `config_read_file()`): `key: value`
//! lines, `#` comments, backslash continuation, `@include`, `<service>_<option>` overrides and
//! fatal errors for anything malformed. Every error names the file and line it comes from.
//!
//! [`OPTIONS`] is the one table of the options this server understands: name, type, default and
//! meaning. The typed accessors on [`Config`] read through it, and the README's option table is
//! generated from it ([`options_markdown_table`]). Keys not in the table are kept verbatim (Cyrus's
//! "overflow" table: `partition-*`, `sasl_*`, options of other Cyrus services sharing the file) and
//! are reachable with [`Config::get_raw`].

use anyhow::{Context, Result, anyhow, bail};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The default configuration file (`-C` overrides it). cyrus-compat 3.1.
pub const DEFAULT_CONFIG_FILE: &str = "/etc/imapd.conf";

/// SASL mechanisms the host implements. `sasl_mech_list` may name others (a Cyrus config often
/// lists `CRAM-MD5` or `DIGEST-MD5`); those are ignored by [`Config::sasl_mech_list`].
pub const SUPPORTED_SASL_MECHS: &[&str] = &[
    "PLAIN",
    "LOGIN",
    "SCRAM-SHA-1",
    "SCRAM-SHA-1-PLUS",
    "SCRAM-SHA-256",
    "SCRAM-SHA-256-PLUS",
    "EXTERNAL",
];

/// The type of an option's value, and how its text is parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only the first character matters: `1` `y` `t` or `on` is true, `0` `n` `f` or `of...`
    /// false; anything else is an error (Cyrus `config_parse_switch()`, case-sensitive).
    Switch,
    /// An integer as C's `strtol(value, NULL, 0)` reads it: decimal, `0x` hex, leading-`0`
    /// octal, optional sign; the whole value must be consumed. Bounded to `min..=max`.
    Int { min: i64, max: i64 },
    /// A byte count: digits, then optionally `K`, `M` or `G` (powers of 1024, optionally
    /// followed by `i`) and `B`. This is Cyrus 3.8+'s `BYTESIZE` syntax, used for our own options.
    ByteSize,
    /// Free text.
    String,
    /// One of a fixed set of words (case-sensitive, as in Cyrus). For enums that have `on` and
    /// `off`, Cyrus also accepts `1 yes t true` and `0 no f false`.
    Enum(&'static [&'static str]),
    /// Words separated by blanks.
    StringList,
    /// Words separated by `|`, each trimmed (Cyrus's `autocreate_inbox_folders` convention).
    BarList,
    /// Digits with `d`, `h`, `m`, `s` units, combinable (`1h30m`). A trailing bare number takes
    /// `unit` (Cyrus `config_parseduration()`).
    Duration { unit: char },
    /// (imapd) A value for every domain, then overrides: `<default> [<domain>=<value> ...]`,
    /// each value a non-negative integer, or with `bytes` a [`Kind::ByteSize`].
    PerDomain { bytes: bool },
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Switch => "switch",
            Kind::Int { .. } => "int",
            Kind::ByteSize => "bytesize",
            Kind::String => "string",
            Kind::Enum(_) => "enum",
            Kind::StringList => "stringlist",
            Kind::BarList => "string (`|`-separated)",
            Kind::Duration { .. } => "duration",
            Kind::PerDomain { bytes: false } => "int per domain",
            Kind::PerDomain { bytes: true } => "bytesize per domain",
        }
    }
}

/// One known option: the single source of truth for its type, default and meaning.
#[derive(Debug, Clone, Copy)]
pub struct OptionSpec {
    pub name: &'static str,
    pub kind: Kind,
    /// The default, written as it would be in imapd.conf. `None`: unset (or, where the
    /// description says so, computed at load time). A default may start with
    /// `{configdirectory}`, which is expanded (cyrus-compat 3.1 "Path defaults").
    pub default: Option<&'static str>,
    pub description: &'static str,
}

// Cyrus 3.6 stores ints as int32 (`imapopts[].val.i32`).
const I32_NONNEG: Kind = Kind::Int {
    min: 0,
    max: i32::MAX as i64,
};
// Any int32, negative values included.
const I32: Kind = Kind::Int {
    min: i32::MIN as i64,
    max: i32::MAX as i64,
};
const SECONDS: Kind = Kind::Duration { unit: 's' };
const MINUTES: Kind = Kind::Duration { unit: 'm' };

/// Session memory cap default: 64 MiB. A session's guest holds its parser buffers, one
/// mailbox index and the message it is currently parsing; output is pulled in bounded chunks,
/// so even a 1 GB FETCH never needs the whole message in memory. 64 MiB leaves room for
/// literals up to `maxliteral` and large mailbox indexes, while 1000 sessions stay bounded.
const DEFAULT_SESSION_MEMORY_LIMIT: &str = "64M";

/// Per-call deadline default: 30 s. A guest call (one `feed`/`pull`/`event` step) normally
/// takes micro- to milliseconds, because output is produced in bounded chunks. The deadline is
/// a backstop against a guest stuck in a loop, not a throttle: it must exceed the slowest
/// legitimate step (a body SEARCH over a large mailbox), and stay short enough that a runaway
/// guest frees its slot and its CPU quickly. Cyrus and Dovecot have no such limit at all.
const DEFAULT_SESSION_CPU_LIMIT: &str = "30s";

/// Cyrus's `xlist-<flag>` (imapd.conf(5) `xlist-flag`): one option per special use
/// (RFC 6154) the guest knows, naming the autocreated folder that gets it.
macro_rules! xlist_option {
    ($flag:literal, $attribute:literal) => {
        OptionSpec {
            name: concat!("xlist-", $flag),
            kind: Kind::String,
            default: None,
            description: concat!(
                "The folder of `autocreate_inbox_folders` that gets the special use `\\",
                $attribute,
                "` (RFC 6154) when it is created (Cyrus's `xlist-<flag>`)."
            ),
        }
    };
}

/// Every option this server knows, in README order. Cyrus 3.6 defaults unless the description
/// says otherwise (cyrus-compat 3.2).
pub static OPTIONS: &[OptionSpec] = &[
    OptionSpec {
        name: "configdirectory",
        kind: Kind::String,
        default: None,
        description: "**Required.** Directory of the server's state: `msg/motd`, `msg/shutdown`, \
                      `log/<user>/` telemetry, `socket/` accept locks, the password file, \
                      `imapd.metadata` (server annotations), `quota/` (quota roots).",
    },
    OptionSpec {
        name: "defaultpartition",
        kind: Kind::String,
        default: None,
        description: "Name of the partition holding the mail spool. Lowercased, must be \
                      alphanumeric. Unset: `default` if `partition-default` exists, else the \
                      alphabetically first `partition-<name>`.",
    },
    OptionSpec {
        name: "partition-<name>",
        kind: Kind::String,
        default: None,
        description: "Root directory of mail partition `<name>`; `partition-default` is the \
                      usual one. At least one is required to serve mail.",
    },
    OptionSpec {
        name: "servername",
        kind: Kind::String,
        default: None,
        description: "Host name shown in the greeting and used in SESSIONIDs (unless \
                      `syslog_prefix` is set). Unset: gethostname().",
    },
    OptionSpec {
        name: "serverinfo",
        kind: Kind::Enum(&["off", "min", "on"]),
        default: Some("on"),
        description: "How much the greeting and ID reveal: `on` host name and version, `min` \
                      host name only, `off` neither.",
    },
    OptionSpec {
        name: "syslog_prefix",
        kind: Kind::String,
        default: None,
        description: "Log lines carry the ident `<prefix>/<service>` (e.g. `cyrus/imap`) instead of \
                      the service name, and SESSIONIDs start with it instead of `servername`. \
                      `CYRUS_SYSLOG_PREFIX` in the environment wins.",
    },
    OptionSpec {
        name: "syslog_facility",
        kind: Kind::String,
        default: Some("MAIL"),
        description: "Syslog facility of every line, as syslog.conf names it (`mail`, `daemon`, \
                      `local0` to `local7`, ...; any case, `LOG_` optional). `MAIL` is what \
                      Debian's Cyrus is built with.",
    },
    OptionSpec {
        name: "log_destination",
        kind: Kind::Enum(&["syslog", "stderr"]),
        default: Some("syslog"),
        description: "Where the log goes. `stderr` writes the same lines to standard error, each \
                      prefixed `<ident>[<pid>]: `, for containers and tests. When syslog cannot \
                      be reached at startup, lines go to stderr after one saying why. (Ours.)",
    },
    OptionSpec {
        name: "syslog_socket",
        kind: Kind::String,
        default: None,
        description: "The syslog daemon's socket (datagram or stream). Unset: `/dev/log` (or \
                      the BSD and macOS names). (Ours.)",
    },
    OptionSpec {
        name: "allowplaintext",
        kind: Kind::Switch,
        default: Some("no"),
        description: "Allow LOGIN and plaintext SASL mechanisms without TLS (or an external \
                      layer of ssf >= 2, `-p`).",
    },
    OptionSpec {
        name: "tls_required",
        kind: Kind::Switch,
        default: Some("no"),
        description: "Refuse LOGIN and AUTHENTICATE before TLS; LOGINDISABLED and no AUTH= \
                      until then.",
    },
    OptionSpec {
        name: "tls_server_cert",
        kind: Kind::String,
        default: None,
        description: "PEM file with the server certificate chain. TLS (STARTTLS, `-s`) needs \
                      this and `tls_server_key`; the value `disabled` counts as unset.",
    },
    OptionSpec {
        name: "tls_server_key",
        kind: Kind::String,
        default: None,
        description: "PEM file with the private key for `tls_server_cert`; `disabled` counts \
                      as unset.",
    },
    OptionSpec {
        name: "tls_versions",
        kind: Kind::StringList,
        default: Some("tls1_2 tls1_3"),
        description: "TLS versions to offer, from `tls1_0 tls1_1 tls1_2 tls1_3`. rustls \
                      implements only 1.2 and 1.3: `tls1_0` and `tls1_1` are accepted (a Cyrus \
                      config may list them) but ignored. Listing neither 1.2 nor 1.3 is an \
                      error. (Cyrus's default also lists 1.0 and 1.1.)",
    },
    OptionSpec {
        name: "tls_client_ca_file",
        kind: Kind::String,
        default: None,
        description: "PEM file of the CAs whose client certificates are accepted. When set, \
                      TLS asks for a client certificate (see `tls_client_certs`), and a \
                      verified one allows SASL EXTERNAL as the user its subject CN names (or, \
                      without a CN, its first e-mail, then DNS subject alternative name).",
    },
    OptionSpec {
        name: "tls_client_certs",
        kind: Kind::Enum(&["off", "optional", "require"]),
        default: Some("optional"),
        description: "With `tls_client_ca_file`: `optional` asks TLS clients for a \
                      certificate and accepts none (a presented one must verify, or the \
                      handshake fails), `require` refuses clients without one, `off` never \
                      asks.",
    },
    OptionSpec {
        name: "timeout",
        kind: MINUTES,
        default: Some("32m"),
        description: "Autologout after this much inactivity (`* BYE idle for too long`). A \
                      bare number is minutes; values below 30 minutes are raised to 30 minutes, \
                      as Cyrus does (RFC 3501 requires at least 30). (imapd) Also how long \
                      output may wait for a client that reads none of it before the connection \
                      is dropped.",
    },
    OptionSpec {
        name: "autologout_minimum",
        kind: MINUTES,
        default: Some("30m"),
        description: "(imapd) The floor under `timeout`. Cyrus hard-codes 30 minutes, the \
                      minimum RFC 3501 5.4 asks for; lower it only for tests.",
    },
    OptionSpec {
        name: "login_timeout",
        kind: SECONDS,
        default: Some("2m"),
        description: "(imapd) Longest time from connecting (or UNAUTHENTICATE) to a \
                      successful login, in all: `timeout` counts from the last input, so a \
                      client sending a byte now and then would otherwise hold a session \
                      before login for ever (`* BYE Login took too long`). 0: no limit.",
    },
    OptionSpec {
        name: "imapidlepoll",
        kind: SECONDS,
        default: Some("60s"),
        description: "How often an IDLE session re-checks its mailbox and `msg/shutdown` when \
                      no change notification arrives. `0` disables IDLE (and removes it from \
                      CAPABILITY).",
    },
    OptionSpec {
        name: "idle_keepalive",
        kind: SECONDS,
        default: Some("2m"),
        description: "(imapd) How often an IDLE client gets `* OK Still here`, so NAT paths \
                      and firewalls keep the connection (RFC 2177 asks clients to re-IDLE \
                      within 29 minutes; many NATs drop idle TCP far sooner). 0: never.",
    },
    OptionSpec {
        name: "idle_hibernate",
        kind: SECONDS,
        default: Some("30s"),
        description: "(imapd) After this long in IDLE without client input, a session is \
                      reduced to its snapshot and its guest instance freed; the host keeps the \
                      socket, the keepalive and the change watch, and a change or client input \
                      restores it into a fresh instance. The client cannot tell. 0: never.",
    },
    OptionSpec {
        name: "imapidletimeout",
        kind: MINUTES,
        default: None,
        description: "Autologout during IDLE. A bare number is minutes. Unset or 0: same as \
                      `timeout`.",
    },
    OptionSpec {
        name: "sasl_pwcheck_method",
        kind: Kind::Enum(&["passwd_file", "saslauthd", "alwaystrue"]),
        default: Some("passwd_file"),
        description: "How passwords are checked: `passwd_file` (the file `passwd_file`), \
                      `saslauthd` (its unix socket, for PAM/LDAP sites) or `alwaystrue` (any \
                      password; for tests only). Cyrus's `auxprop` (sasldb) is not supported.",
    },
    OptionSpec {
        name: "sasl_mech_list",
        kind: Kind::StringList,
        default: Some("PLAIN LOGIN"),
        description: "SASL mechanisms to offer, in order, from PLAIN, LOGIN, SCRAM-SHA-1, \
                      SCRAM-SHA-256 (users with `{SCRAM-...}` entries in `passwd_file`), \
                      their -PLUS forms (inside TLS) and EXTERNAL (a verified client \
                      certificate, `tls_client_ca_file`); other names are ignored. SCRAM is \
                      not offered with `saslauthd` or `alwaystrue` (no stored keys).",
    },
    OptionSpec {
        name: "sasl_saslauthd_path",
        kind: Kind::String,
        default: Some("/var/run/saslauthd/mux"),
        description: "saslauthd's socket, for `sasl_pwcheck_method: saslauthd` (Debian's \
                      sasl2-bin path).",
    },
    OptionSpec {
        name: "passwd_file",
        kind: Kind::String,
        default: Some("{configdirectory}/passwd"),
        description: "(imapd) Password file: `user:{SCHEME}hash` lines (ARGON2ID, SHA512-CRYPT, \
                      SHA256-CRYPT, BLF-CRYPT, SCRAM-SHA-256, SCRAM-SHA-1, PLAIN). Re-read when it \
                      changes. Maintained with `imapd passwd`.",
    },
    OptionSpec {
        name: "failedloginpause",
        kind: SECONDS,
        default: Some("3s"),
        description: "Delay before answering a failed login. The session waits, the host does \
                      not.",
    },
    OptionSpec {
        name: "maxword",
        kind: I32_NONNEG,
        default: Some("131072"),
        description: "Longest atom or tag, in bytes (`* BYE [TOOBIG] Word too long`). 0: no \
                      limit.",
    },
    OptionSpec {
        name: "maxquoted",
        kind: I32_NONNEG,
        default: Some("131072"),
        description: "Longest quoted string, in bytes (`* BYE [TOOBIG] Quoted value too \
                      long`). 0: no limit.",
    },
    OptionSpec {
        name: "maxliteral",
        kind: I32_NONNEG,
        default: Some("131072"),
        description: "Longest literal outside APPEND, in bytes (`NO [TOOBIG]`, or `BYE` for \
                      `{N+}`). 0: no limit.",
    },
    OptionSpec {
        name: "maxmessagesize",
        kind: I32_NONNEG,
        default: Some("0"),
        description: "Largest message APPEND accepts, in bytes; shown as APPENDLIMIT. 0: no \
                      limit (APPENDLIMIT=4294967295).",
    },
    OptionSpec {
        name: "literalminus",
        kind: Kind::Switch,
        default: Some("no"),
        description: "Offer LITERAL- (RFC 7888) instead of LITERAL+: a non-synchronizing \
                      literal over 4096 bytes is read past and its command answered `BAD \
                      [TOOBIG] Non-synchronizing literal size exceeds 4K`. (Cyrus 3.6 keeps \
                      showing LITERAL+ and closes the connection.)",
    },
    OptionSpec {
        name: "admins",
        kind: Kind::StringList,
        default: None,
        description: "Users who are administrators: never kicked by `msg/shutdown`, get \
                      UNAUTHENTICATE, manage users' mailboxes (`user/<name>`: cyradm `cm`, \
                      `dm`, `renm`, `lm`), set quotas and server annotations, and may log in \
                      as another user (AUTHENTICATE PLAIN with an authorization identity). \
                      With `virtdomains`, `admin@example.com` administers the users of \
                      `example.com` only, and a name without a domain those of \
                      `defaultdomain`.",
    },
    OptionSpec {
        name: "proxyservers",
        kind: Kind::StringList,
        default: None,
        description: "Users (proxies such as a Cyrus murder frontend) who, like `admins`, may \
                      log in as another user: AUTHENTICATE PLAIN with their own name and \
                      password and the other user as the authorization identity (RFC 4616).",
    },
    OptionSpec {
        name: "suppress_capabilities",
        kind: Kind::StringList,
        default: None,
        description: "Capabilities to hide, exact case (e.g. `ESEARCH ACL`).",
    },
    OptionSpec {
        name: "autocreate_quota",
        kind: I32,
        default: Some("-1"),
        description: "0 or more: a user's first login, which makes the user's mail tree, also \
                      gives the user a quota root (`{configdirectory}/quota/<c>/user.<name>`, \
                      Cyrus's file) unless one exists, with a STORAGE limit of this many KiB \
                      (0: no limit). -1: none is made. (In Cyrus, -1 also keeps INBOX from \
                      being made at login; imapd always makes the tree.)",
    },
    OptionSpec {
        name: "autocreate_quota_messages",
        kind: I32,
        default: Some("-1"),
        description: "The MESSAGE limit of a quota root made by `autocreate_quota`; 0 or less: \
                      no limit.",
    },
    OptionSpec {
        name: "defaultacl",
        kind: Kind::String,
        default: Some("anyone lrs"),
        description: "The ACL (`identifier rights` pairs, RFC 4314 letters) of a new shared \
                      folder (`Shared Folders/...`, made by an administrator) that has no \
                      parent; a folder made below one takes its parent's.",
    },
    OptionSpec {
        name: "implicit_owner_rights",
        kind: Kind::String,
        default: Some("lkxan"),
        description: "Rights (RFC 4314 letters) the owner of a mailbox always has, whatever \
                      its ACL says: with the default the owner can always see, administer \
                      and delete their mailboxes.",
    },
    OptionSpec {
        name: "quotawarn",
        kind: I32,
        default: Some("90"),
        description: "SELECT warns (`* NO [ALERT] Mailbox is at N% of STORAGE quota`, or \
                      `... is over ...`) when a resource of the user's quota root is used to \
                      more than this percentage of its limit.",
    },
    OptionSpec {
        name: "autocreate_inbox_folders",
        kind: Kind::BarList,
        default: None,
        description: "Folders created together with a new INBOX, separated by `|` \
                      (e.g. `Sent | Drafts | Trash`).",
    },
    xlist_option!("all", "All"),
    xlist_option!("archive", "Archive"),
    xlist_option!("drafts", "Drafts"),
    xlist_option!("flagged", "Flagged"),
    xlist_option!("junk", "Junk"),
    xlist_option!("sent", "Sent"),
    xlist_option!("trash", "Trash"),
    OptionSpec {
        name: "specialusealways",
        kind: Kind::Switch,
        default: Some("yes"),
        description: "Show mailboxes' special uses (RFC 6154: `\\Sent`, `\\Drafts`, ...) on every \
                      LIST response, not only to a client that asks with `RETURN (SPECIAL-USE)` \
                      (Apple Mail never asks). LSUB responses never carry them.",
    },
    OptionSpec {
        name: "debug_command",
        kind: Kind::String,
        default: None,
        description: "Command run by `-D` before serving: `%s` = argv[0], `%d` = pid, `%s` = \
                      service name.",
    },
    OptionSpec {
        name: "maxlogins_per_user",
        kind: I32_NONNEG,
        default: Some("0"),
        description: "Most concurrent sessions per user. 0: unlimited.",
    },
    OptionSpec {
        name: "maxlogins_per_host",
        kind: I32_NONNEG,
        default: Some("0"),
        description: "Most concurrent sessions per client host. 0: unlimited.",
    },
    OptionSpec {
        name: "maxpreauth_per_host",
        kind: I32_NONNEG,
        default: Some("100"),
        description: "(imapd) Most connections one client address may hold before logging in; \
            more are answered `* BYE` and closed (a TLS port closes them without a word). Every \
            connection takes a guest instance from `max_sessions` as it is greeted, so this keeps \
            one address from filling the pool with sessions that never log in. Counted per \
            process: under master(8), where a process serves one connection at a time, the \
            service's `maxchild` is the bound instead. 0: unlimited.",
    },
    OptionSpec {
        name: "umask",
        kind: Kind::Int { min: 0, max: 0o777 },
        default: Some("077"),
        description: "umask for files the server creates (octal with a leading 0).",
    },
    OptionSpec {
        name: "unixhierarchysep",
        kind: Kind::Switch,
        default: Some("yes"),
        description: "Show clients `/` as the hierarchy separator (`no`: `.`, and a `.` \
                      inside a name shows as `^`, as in Cyrus). The mail store is the same \
                      either way: the option can change without touching it.",
    },
    OptionSpec {
        name: "altnamespace",
        kind: Kind::Switch,
        default: Some("yes"),
        description: "Personal folders beside INBOX rather than under it (`no`: \
                      `INBOX.Sent`, and NAMESPACE says `INBOX.`). The mail store is the same \
                      either way.",
    },
    OptionSpec {
        name: "virtdomains",
        kind: Kind::Enum(&["off", "userid", "on"]),
        default: Some("off"),
        description: "Virtual domains, as in Cyrus. `off`: a login name is one flat user \
                      (`alice@example.com` included). `userid`: the domain is what follows \
                      the last `@` or `%` of the login name (`alice%example.com` is \
                      `alice@example.com`). `on`: as `userid`, and a name without a domain \
                      takes the domain of the address the client connected to \
                      (`virtdomain_addresses`). A domain's users have their mail under \
                      `<partition>/domain/<domain>/<user>/` and their quota roots and share \
                      index under `<configdirectory>/domain/<domain>/`; they see only their \
                      domain (`Other Users/bob` is `bob@` the same domain).",
    },
    OptionSpec {
        name: "defaultdomain",
        kind: Kind::String,
        default: None,
        description: "With `virtdomains`: the domain of users who log in without one (and, \
                      with `on`, from an address `virtdomain_addresses` does not name). Its \
                      users keep plain names (`alice@<defaultdomain>` is `alice`) and their \
                      mail stays at `<partition>/<user>/`, so turning `virtdomains` on moves \
                      no mail. A default-domain user may not be named `domain`.",
    },
    OptionSpec {
        name: "virtdomain_addresses",
        kind: Kind::StringList,
        default: None,
        description: "(imapd) With `virtdomains: on`: `<address>=<domain>` entries, each the \
                      local address a client connected to (`192.0.2.7`, or `192.0.2.7:993` \
                      for one listener) and the domain of logins without one there. Cyrus \
                      looks the address up in DNS instead; imapd does no lookup.",
    },
    OptionSpec {
        name: "tenant_maxsessions",
        kind: Kind::PerDomain { bytes: false },
        default: Some("0"),
        description: "(imapd) Logged-in sessions (awake or hibernated) a domain may have in \
                      this process at once: `<default> [<domain>=<n> ...]` (the default \
                      domain by its name); 0: unlimited. The next login of that domain is \
                      answered `NO [UNAVAILABLE]`. Standalone mode: under master(8) each \
                      process has one session; use `maxlogins_per_user` there.",
    },
    OptionSpec {
        name: "tenant_maxawake",
        kind: Kind::PerDomain { bytes: false },
        default: Some("0"),
        description: "(imapd) Sessions of a domain that may hold a guest instance at once (not \
                      hibernated): `<default> [<domain>=<n> ...]`; 0: unlimited. At the limit \
                      the domain's sessions in IDLE are hibernated to make room; a login \
                      that finds none is answered `NO [UNAVAILABLE]`.",
    },
    OptionSpec {
        name: "tenant_memory_limit",
        kind: Kind::PerDomain { bytes: true },
        default: Some("0"),
        description: "(imapd) Guest linear memory all awake sessions of a domain may hold \
                      together: `<default> [<domain>=<size> ...]`, sizes as \
                      `session_memory_limit` (`512M`); 0: unlimited. A login that would pass \
                      it is answered `NO [UNAVAILABLE]`; a session whose growth would pass \
                      it fails that allocation (and ends with `* BYE`), as at \
                      `session_memory_limit`.",
    },
    OptionSpec {
        name: "tenant_cpu_share",
        kind: Kind::PerDomain { bytes: false },
        default: Some("50"),
        description: "(imapd) The share of the machine's cores, in percent, that a domain's \
                      guest code may use: `<default> [<domain>=<percent> ...]`; 0: \
                      unlimited. A domain past its share has its sessions' guest calls \
                      paused (in 10 ms steps) until it is back within it, so one tenant's \
                      SEARCH storm slows that tenant, not the others. Only with \
                      `virtdomains` (with `off` there is one tenant).",
    },
    OptionSpec {
        name: "tenant_login_rate",
        kind: Kind::PerDomain { bytes: false },
        default: Some("0"),
        description: "(imapd) Logins per second a domain may make (a burst of twice as many \
                      is allowed): `<default> [<domain>=<n> ...]`; 0: unlimited. Past it a \
                      login is answered `NO [UNAVAILABLE]` before the password is checked.",
    },
    OptionSpec {
        name: "guest_module",
        kind: Kind::String,
        default: None,
        description: "(imapd) The guest component (`.wasm`) that runs sessions, and where \
                      `imapd swap` installs a new one. Unset: `{configdirectory}/guest.wasm` when \
                      that file exists, else the module built into the binary. The file must not \
                      be writable by group or others.",
    },
    OptionSpec {
        name: "hostile_guest",
        kind: Kind::String,
        default: None,
        description: "(imapd, tests only) Misbehaviours of the test guest built by `make \
                      hostile-guest`: `panic-in-greet`, `refuse-restore`. Production guests \
                      ignore it.",
    },
    OptionSpec {
        name: "guest_module_sha256",
        kind: Kind::String,
        default: None,
        description: "(imapd) Pins the guest: the hex SHA-256 of the only module a server loads \
                      and `imapd swap` installs. Unset: any module that passes validation.",
    },
    OptionSpec {
        name: "guest_cache_dir",
        kind: Kind::String,
        default: Some("{configdirectory}/cache"),
        description: "(imapd) Where compiled guest modules are cached, so a new process \
                      starts serving in milliseconds instead of compiling for 100-200 ms.",
    },
    OptionSpec {
        name: "session_memory_limit",
        kind: Kind::ByteSize,
        default: Some(DEFAULT_SESSION_MEMORY_LIMIT),
        description: "(imapd) Memory one session's guest may use (`K`/`M`/`G` suffixes). \
                      Output is streamed in chunks, so this bounds parser buffers and indexes, \
                      not message sizes; 64 MiB leaves room for large literals and mailboxes \
                      while keeping 1000 sessions bounded. A guest that exceeds it gets \
                      `* BYE` and is logged; the process goes on.",
    },
    OptionSpec {
        name: "session_cpu_limit",
        kind: SECONDS,
        default: Some(DEFAULT_SESSION_CPU_LIMIT),
        description: "(imapd) Longest a guest may run in one step (one command's chunk of \
                      work; wall-clock time, enforced by epoch interruption) before the session \
                      is ended with `* BYE`. A backstop against a looping guest: normal steps \
                      take microseconds to milliseconds, and 30s leaves room for a body SEARCH \
                      over a large mailbox.",
    },
    OptionSpec {
        name: "max_sessions",
        kind: Kind::Int {
            min: 1,
            max: i32::MAX as i64,
        },
        default: Some("1000"),
        description: "(imapd) Concurrent sessions per process: the size of the guest \
                      instance pool (wasmtime's pooling allocator).",
    },
    OptionSpec {
        name: "prometheus_enabled",
        kind: Kind::Switch,
        default: Some("no"),
        description: "Serve metrics in the OpenMetrics text format (Prometheus) at \
                      `http://<prometheus_listen>/metrics`. Standalone mode only: under \
                      master(8) each process writes its counters to \
                      `{configdirectory}/stats/` and `imapd metrics` prints their sum.",
    },
    OptionSpec {
        name: "prometheus_listen",
        kind: Kind::String,
        default: Some(DEFAULT_PROMETHEUS_LISTEN),
        description: "(imapd) Where the metrics listener binds: `host:port`, `[v6]:port` or a \
                      bare port (on 127.0.0.1). Loopback by default: the metrics name no \
                      user, but they tell how busy the server is.",
    },
];

/// The metrics listener's default address: loopback only (the metrics are
/// for the local Prometheus or an SSH tunnel, not for the world), on a
/// port next to IMAP's 143 that no well-known service uses.
pub const DEFAULT_PROMETHEUS_LISTEN: &str = "127.0.0.1:9143";

/// Where a value came from, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub file: PathBuf,
    pub line: usize,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// A parsed option value.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Value {
    Switch(bool),
    Int(i64),
    Str(String),
    Enum(&'static str),
    List(Vec<String>),
    /// Seconds.
    Duration(u64),
    PerDomain(PerDomain),
}

#[derive(Debug, Clone)]
struct Setting {
    raw: String,
    value: Value,
    /// `None` for a built-in default.
    origin: Option<Origin>,
}

/// Whether a known option was given generically or as `<service>_<option>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    Generic,
    Service,
}

/// `tls_client_certs`: whether TLS asks for a client certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientCerts {
    Off,
    Optional,
    Require,
}

/// `serverinfo`: how much the greeting and ID say about the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerInfo {
    Off,
    Min,
    On,
}

/// `sasl_pwcheck_method`: who checks passwords.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PwcheckMethod {
    PasswdFile,
    Saslauthd,
    AlwaysTrue,
}

/// The TLS versions to enable, out of those rustls implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TlsVersions {
    pub tls1_2: bool,
    pub tls1_3: bool,
}

/// A loaded imapd.conf, for one service (the `CYRUS_SERVICE` name; cyrus-compat 1.3).
#[derive(Debug, Clone)]
pub struct Config {
    file: PathBuf,
    service: String,
    /// Known options, after service overrides, with defaults filled in. Keyed by table name.
    known: HashMap<&'static str, Setting>,
    /// Unknown keys, verbatim (lowercased), as Cyrus's overflow table.
    overflow: HashMap<String, Setting>,
    configdirectory: PathBuf,
    servername: String,
    /// (name, directory) of the mail spool partition, if any partition is configured.
    default_partition: Option<(String, PathBuf)>,
}

/// Options the guest reads by name (`settings.options` in the WIT
/// contract); each must be in [`OPTIONS`].
pub const GUEST_OPTIONS: &[&str] = &[
    "altnamespace",
    "defaultacl",
    "defaultpartition",
    "hostile_guest",
    "implicit_owner_rights",
    "literalminus",
    "quotawarn",
    "specialusealways",
    "unixhierarchysep",
    "virtdomains",
    "xlist-all",
    "xlist-archive",
    "xlist-drafts",
    "xlist-flagged",
    "xlist-junk",
    "xlist-sent",
    "xlist-trash",
];

fn spec(name: &str) -> Option<&'static OptionSpec> {
    OPTIONS
        .iter()
        .find(|s| s.name == name && !s.name.contains('<'))
}

// ---------------------------------------------------------------------------------------------
// Reading the file(s)

struct Reader {
    service: String,
    /// Files read so far (canonical when possible): including one twice is fatal.
    included: HashSet<PathBuf>,
    /// The chain of files being read, for cycle messages.
    stack: Vec<PathBuf>,
    known: HashMap<&'static str, (Setting, Seen)>,
    overflow: HashMap<String, Setting>,
}

/// Cyrus `Uisspace()`: the C locale's isspace.
fn is_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c')
}

/// An error message, prefixed with `file:line: ` when there is an origin.
fn at(origin: Option<&Origin>, msg: String) -> anyhow::Error {
    match origin {
        Some(o) => anyhow!("{o}: {msg}"),
        None => anyhow!("{msg}"),
    }
}

fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

impl Reader {
    fn read_file(&mut self, path: &Path, from: Option<&Origin>) -> Result<()> {
        let bytes = std::fs::read(path).map_err(|e| {
            at(
                from,
                format!("can't open configuration file {}: {e}", path.display()),
            )
        })?;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        self.read_text(&text, path, from)
    }

    fn read_text(&mut self, text: &str, path: &Path, from: Option<&Origin>) -> Result<()> {
        let key = canonical(path);
        if self.stack.contains(&key) {
            let chain: Vec<String> = self
                .stack
                .iter()
                .chain(std::iter::once(&key))
                .map(|p| p.display().to_string())
                .collect();
            return Err(at(from, format!("include cycle: {}", chain.join(" -> "))));
        }
        // Cyrus: "configuration file %s included twice" is fatal.
        if !self.included.insert(key.clone()) {
            return Err(at(
                from,
                format!("configuration file {} included twice", path.display()),
            ));
        }
        self.stack.push(key);
        let r = self.read_lines(text, path);
        self.stack.pop();
        r
    }

    fn read_lines(&mut self, text: &str, path: &Path) -> Result<()> {
        let mut lines = text.split('\n').enumerate().peekable();
        while let Some((i, first)) = lines.next() {
            let start = i + 1;
            // A file's final newline leaves an empty last piece: nothing to do.
            let mut line = first.strip_suffix('\r').unwrap_or(first).to_string();
            // cyrus-compat 3.1: a trailing backslash joins the next line; the backslash and the
            // newline go, no space is inserted. As in Cyrus this happens before comments are
            // recognised, so a comment ending in `\` swallows the next line too.
            while line.ends_with('\\') {
                line.pop();
                match lines.next() {
                    Some((_, next)) => line.push_str(next.strip_suffix('\r').unwrap_or(next)),
                    None => break,
                }
            }
            let origin = Origin {
                file: path.to_path_buf(),
                line: start,
            };
            self.read_line(&line, origin)?;
        }
        Ok(())
    }

    fn read_line(&mut self, line: &str, origin: Origin) -> Result<()> {
        let p = line.trim_start_matches(is_blank);
        // cyrus-compat 3.1: `#` as the first non-blank starts a comment; there are no trailing
        // comments.
        if p.is_empty() || p.starts_with('#') {
            return Ok(());
        }
        let directive = p.starts_with('@');
        let body = if directive { &p[1..] } else { p };
        let key_len = body
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
            .unwrap_or(body.len());
        let name = &body[..key_len];
        let rest = &body[key_len..];
        let Some(value) = rest.strip_prefix(':') else {
            return Err(match rest.chars().next() {
                None => anyhow!("{origin}: missing ':' after option name '{name}'"),
                Some(c) => anyhow!(
                    "{origin}: invalid character {c:?} in option name (names are letters, \
                     digits, '-' and '_', followed by ':')"
                ),
            });
        };
        if name.is_empty() {
            bail!("{origin}: empty option name before ':'");
        }
        let key = name.to_ascii_lowercase();
        let value = value.trim_matches(is_blank);
        if value.is_empty() {
            // cyrus-compat 3.1: an empty value is fatal.
            bail!("{origin}: empty value for option '{name}'");
        }

        if directive {
            if key != "include" {
                bail!("{origin}: unknown directive '@{name}' (only @include exists)");
            }
            let target = Path::new(value);
            let target = if target.is_relative() {
                origin.file.parent().unwrap_or(Path::new(".")).join(target)
            } else {
                target.to_path_buf()
            };
            return self.read_file(&target, Some(&origin));
        }

        // cyrus-compat 3.1: `<service>_<option>` overrides the generic option, whatever the
        // order; Cyrus only treats it as an override when <option> is a known option.
        let prefix = format!("{}_", self.service);
        let service_spec = (!self.service.is_empty())
            .then(|| key.strip_prefix(&prefix))
            .flatten()
            .and_then(spec);
        let (spec, seen) = match service_spec {
            Some(s) => (Some(s), Seen::Service),
            None => (spec(&key), Seen::Generic),
        };

        let Some(spec) = spec else {
            // Unknown keys are not errors: Cyrus keeps them verbatim in its overflow table.
            if self.overflow.contains_key(&key) {
                bail!("{origin}: option '{name}' was specified twice");
            }
            self.overflow.insert(
                key,
                Setting {
                    raw: value.to_string(),
                    value: Value::Str(value.to_string()),
                    origin: Some(origin),
                },
            );
            return Ok(());
        };

        match self
            .known
            .get(spec.name)
            .map(|(s, seen)| (s.origin.clone(), *seen))
        {
            Some((first, prev)) if prev == seen => {
                let first = first
                    .map(|o| format!(" (first at {o})"))
                    .unwrap_or_default();
                bail!("{origin}: option '{name}' was specified twice{first}");
            }
            // Cyrus: a generic option after its service-specific form is skipped silently
            // (and not parsed).
            Some((_, Seen::Service)) => return Ok(()),
            _ => {}
        }
        let value = parse_value(spec, value).map_err(|e| anyhow!("{origin}: {e}"))?;
        self.known
            .insert(spec.name, (value.with_origin(origin), seen));
        Ok(())
    }
}

impl Setting {
    fn with_origin(mut self, origin: Origin) -> Setting {
        self.origin = Some(origin);
        self
    }
}

// ---------------------------------------------------------------------------------------------
// Value parsing

fn parse_value(spec: &OptionSpec, raw: &str) -> Result<Setting, String> {
    let name = spec.name;
    let value = match spec.kind {
        Kind::Switch => Value::Switch(parse_switch(raw).ok_or_else(|| {
            format!(
                "invalid value '{raw}' for switch option '{name}' (use yes/no, on/off, \
                 true/false or 1/0)"
            )
        })?),
        Kind::Int { min, max } => {
            let n = parse_strtol(raw)
                .ok_or_else(|| format!("invalid value '{raw}' for integer option '{name}'"))?;
            if n < min || n > max {
                return Err(format!(
                    "value '{raw}' for option '{name}' is out of range ({min} to {max})"
                ));
            }
            Value::Int(n)
        }
        Kind::ByteSize => Value::Int(
            parse_bytesize(raw)
                .map_err(|e| format!("invalid byte size '{raw}' for option '{name}': {e}"))?,
        ),
        Kind::String => Value::Str(raw.to_string()),
        Kind::Enum(allowed) => {
            // Cyrus normalises boolean words for enums, so `serverinfo: yes` means `on`.
            let word = match raw {
                "1" | "yes" | "t" | "true" => "on",
                "0" | "no" | "f" | "false" => "off",
                other => other,
            };
            let found = allowed.iter().find(|a| **a == word).ok_or_else(|| {
                format!(
                    "invalid value '{raw}' for option '{name}' (one of: {})",
                    allowed.join(", ")
                )
            })?;
            Value::Enum(found)
        }
        Kind::StringList => {
            let words: Vec<String> = raw
                .split(is_blank)
                .filter(|w| !w.is_empty())
                .map(String::from)
                .collect();
            if name == "tls_versions" {
                check_tls_versions(&words)?;
            }
            Value::List(words)
        }
        Kind::BarList => Value::List(
            raw.split('|')
                .map(|w| w.trim_matches(is_blank))
                .filter(|w| !w.is_empty())
                .map(String::from)
                .collect(),
        ),
        Kind::Duration { unit } => Value::Duration(
            parse_duration(raw, unit)
                .map_err(|e| format!("invalid duration '{raw}' for option '{name}': {e}"))?,
        ),
        Kind::PerDomain { bytes } => Value::PerDomain(
            parse_per_domain(raw, bytes)
                .map_err(|e| format!("invalid value '{raw}' for option '{name}': {e}"))?,
        ),
    };
    Ok(Setting {
        raw: raw.to_string(),
        value,
        origin: None,
    })
}

/// `<default> [<domain>=<value> ...]` (see [`Kind::PerDomain`]); domains lowercased.
fn parse_per_domain(raw: &str, bytes: bool) -> Result<PerDomain, String> {
    let number = |w: &str| -> Result<u64, String> {
        if bytes {
            parse_bytesize(w).map(|n| n.max(0) as u64)
        } else {
            w.parse::<u64>()
                .map_err(|_| format!("'{w}' is not a non-negative integer"))
        }
    };
    let mut words = raw.split(is_blank).filter(|w| !w.is_empty());
    let default = number(words.next().ok_or("no default value")?)?;
    let mut overrides = Vec::new();
    for w in words {
        let (domain, value) = w
            .split_once('=')
            .ok_or_else(|| format!("'{w}' is not <domain>=<value>"))?;
        let domain = domain.to_ascii_lowercase();
        if !crate::tenant::valid_domain(&domain) {
            return Err(format!("'{domain}' is not a domain name"));
        }
        overrides.push((domain, number(value)?));
    }
    Ok(PerDomain { default, overrides })
}

/// A [`Kind::PerDomain`] option's value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PerDomain {
    pub default: u64,
    pub overrides: Vec<(String, u64)>,
}

impl PerDomain {
    /// The value for `domain` (`None`: users without one).
    pub fn get(&self, domain: Option<&str>) -> u64 {
        domain
            .and_then(|d| self.overrides.iter().find(|(o, _)| o == d))
            .map_or(self.default, |(_, v)| *v)
    }
}

const TLS_VERSION_WORDS: &[&str] = &["tls1_0", "tls1_1", "tls1_2", "tls1_3"];

fn check_tls_versions(words: &[String]) -> Result<(), String> {
    if let Some(bad) = words
        .iter()
        .find(|w| !TLS_VERSION_WORDS.contains(&w.as_str()))
    {
        return Err(format!(
            "unknown TLS version '{bad}' in tls_versions (one of: {})",
            TLS_VERSION_WORDS.join(", ")
        ));
    }
    if !words.iter().any(|w| w == "tls1_2" || w == "tls1_3") {
        return Err(
            "tls_versions enables neither tls1_2 nor tls1_3, the only versions rustls implements"
                .to_string(),
        );
    }
    Ok(())
}

/// Cyrus `config_parse_switch()`: only the first character (two for `on`/`of`) matters.
fn parse_switch(s: &str) -> Option<bool> {
    let b = s.as_bytes();
    match b.first()? {
        b'0' | b'n' | b'f' => Some(false),
        b'1' | b'y' | b't' => Some(true),
        b'o' if b.get(1) == Some(&b'f') => Some(false),
        b'o' if b.get(1) == Some(&b'n') => Some(true),
        _ => None,
    }
}

/// `strtol(s, &end, 0)` with `*end == '\0'` required: optional sign, then `0x` hex, `0` octal
/// or decimal.
fn parse_strtol(s: &str) -> Option<i64> {
    let s = s.trim_start_matches(is_blank);
    let (neg, digits) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let (radix, digits) = if let Some(h) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        (16, h)
    } else if digits.len() > 1 && digits.starts_with('0') {
        (8, &digits[1..])
    } else {
        (10, digits)
    };
    // from_str_radix would accept a second sign; strtol does not.
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let n = i64::from_str_radix(digits, radix).ok()?;
    Some(if neg { -n } else { n })
}

/// Cyrus `config_parseduration()`, in seconds. Negative durations, which Cyrus accepts, are
/// refused: none of our duration options has a meaning for them.
fn parse_duration(s: &str, default_unit: char) -> Result<u64, String> {
    if s.is_empty() {
        return Err("empty".to_string());
    }
    if s.starts_with('-') {
        return Err("negative durations are not allowed".to_string());
    }
    let mut total: u64 = 0;
    let mut acc: Option<u64> = None;
    for c in s.chars().chain(
        // a trailing bare number takes the option's default unit
        s.ends_with(|c: char| c.is_ascii_digit())
            .then_some(default_unit),
    ) {
        if let Some(d) = c.to_digit(10) {
            let v = acc.unwrap_or(0);
            acc = Some(
                v.checked_mul(10)
                    .and_then(|v| v.checked_add(u64::from(d)))
                    .ok_or("too large")?,
            );
            continue;
        }
        let n = acc.take().ok_or_else(|| format!("no digit before '{c}'"))?;
        let mult: u64 = match c {
            'd' => 86_400,
            'h' => 3_600,
            'm' => 60,
            's' => 1,
            _ => return Err(format!("bad unit '{c}' (use d, h, m or s)")),
        };
        total = n
            .checked_mul(mult)
            .and_then(|v| total.checked_add(v))
            .filter(|v| *v <= i32::MAX as u64)
            .ok_or("too large")?;
    }
    Ok(total)
}

/// Cyrus 3.8+ `config_parsebytesize()`: digits, optional blanks, optional `K`/`M`/`G` (and `i`),
/// optional `B`. Refuses negative sizes.
fn parse_bytesize(s: &str) -> Result<i64, String> {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    if end == 0 {
        return Err("no digits".to_string());
    }
    let n: i64 = s[..end].parse().map_err(|_| "too large".to_string())?;
    let mut rest = s[end..].trim_start_matches(is_blank);
    let mut mult: i64 = 1;
    if let Some(c) = rest.chars().next() {
        let m = match c.to_ascii_uppercase() {
            'K' => Some(1 << 10),
            'M' => Some(1 << 20),
            'G' => Some(1 << 30),
            _ => None,
        };
        if let Some(m) = m {
            mult = m;
            rest = &rest[1..];
            rest = rest
                .strip_prefix('i')
                .or_else(|| rest.strip_prefix('I'))
                .unwrap_or(rest);
        }
    }
    rest = rest
        .strip_prefix('B')
        .or_else(|| rest.strip_prefix('b'))
        .unwrap_or(rest);
    if let Some(c) = rest.chars().next() {
        return Err(format!("bad unit '{c}' (use K, M or G)"));
    }
    n.checked_mul(mult).ok_or_else(|| "too large".to_string())
}

// ---------------------------------------------------------------------------------------------
// Loading

fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: buf is valid for buf.len() bytes; gethostname writes at most that many.
    let r = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if r != 0 {
        return "localhost".to_string();
    }
    let len = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    match std::str::from_utf8(&buf[..len]) {
        Ok(s) if !s.is_empty() => s.to_string(),
        _ => "localhost".to_string(),
    }
}

impl Config {
    /// Reads `path` (and what it includes) for `service`, the `CYRUS_SERVICE` name that
    /// selects `<service>_<option>` overrides. Prepending `$CYRUS_PREFIX` is the caller's job.
    pub fn load(path: &Path, service: &str) -> Result<Config> {
        let mut reader = Reader::new(service);
        reader.read_file(path, None)?;
        Config::finish(reader, path)
    }

    /// Parses `text` as if it were the file `origin_name` (which names it in errors and
    /// anchors relative `@include`s).
    pub fn parse_str(text: &str, origin_name: &str, service: &str) -> Result<Config> {
        let mut reader = Reader::new(service);
        let path = Path::new(origin_name);
        reader.read_text(text, path, None)?;
        Config::finish(reader, path)
    }

    fn finish(reader: Reader, file: &Path) -> Result<Config> {
        let Reader {
            service,
            known: given,
            overflow,
            ..
        } = reader;
        let mut known: HashMap<&'static str, Setting> =
            given.into_iter().map(|(k, (s, _))| (k, s)).collect();

        // cyrus-compat 3.1: Cyrus fatal-errors after reading when configdirectory is missing.
        let configdirectory = match known.get("configdirectory") {
            Some(Setting {
                value: Value::Str(s),
                ..
            }) => PathBuf::from(s),
            _ => bail!(
                "{}: required option 'configdirectory' is not set",
                file.display()
            ),
        };

        // Defaults, with `{configdirectory}` expanded.
        for spec in OPTIONS.iter().filter(|s| !s.name.contains('<')) {
            if known.contains_key(spec.name) {
                continue;
            }
            let Some(default) = spec.default else {
                continue;
            };
            let text = match default.strip_prefix("{configdirectory}") {
                Some(rest) => format!("{}{rest}", configdirectory.display()),
                None => default.to_string(),
            };
            let setting = parse_value(spec, &text)
                .map_err(|e| anyhow!("built-in default of '{}': {e}", spec.name))?;
            known.insert(spec.name, setting);
        }

        let servername = match known.get("servername") {
            Some(Setting {
                value: Value::Str(s),
                ..
            }) => s.clone(),
            _ => hostname(),
        };

        let mut config = Config {
            file: file.to_path_buf(),
            service,
            known,
            overflow,
            configdirectory,
            servername,
            default_partition: None,
        };
        config.default_partition = config.resolve_default_partition()?;
        Ok(config)
    }

    /// cyrus-compat 3.1: `defaultpartition` is lowercased and must be alphanumeric; the
    /// partition it names must exist.
    fn resolve_default_partition(&self) -> Result<Option<(String, PathBuf)>> {
        if let Some(setting) = self.known.get("defaultpartition") {
            let name = setting.raw.to_ascii_lowercase();
            let at = setting
                .origin
                .as_ref()
                .map(|o| format!("{o}: "))
                .unwrap_or_default();
            if !name.chars().all(|c| c.is_ascii_alphanumeric()) {
                bail!("{at}defaultpartition '{}' is not alphanumeric", setting.raw);
            }
            return match self.partition(&name) {
                Some(dir) => Ok(Some((name, dir.to_path_buf()))),
                None => bail!("{at}defaultpartition '{name}' has no partition-{name} option"),
            };
        }
        if let Some(dir) = self.partition("default") {
            return Ok(Some(("default".to_string(), dir.to_path_buf())));
        }
        // Cyrus picks the partition with the most free space; we pick deterministically.
        Ok(self.partitions().into_iter().next())
    }
}

impl Reader {
    fn new(service: &str) -> Reader {
        Reader {
            service: service.to_ascii_lowercase(),
            included: HashSet::new(),
            stack: Vec::new(),
            known: HashMap::new(),
            overflow: HashMap::new(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Accessors

impl Config {
    /// The top-level file this configuration was read from.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// The service name whose `<service>_` overrides apply (lowercased).
    pub fn service(&self) -> &str {
        &self.service
    }

    /// The raw text of any option, known or not: `<service>_<key>` first, then `<key>`
    /// (Cyrus `config_getoverflowstring()`). Known options include their defaults.
    pub fn get_raw(&self, key: &str) -> Option<&str> {
        let key = key.to_ascii_lowercase();
        if let Some(spec) = spec(&key) {
            return self.known.get(spec.name).map(|s| s.raw.as_str());
        }
        let service_key = format!("{}_{key}", self.service);
        self.overflow
            .get(&service_key)
            .or_else(|| self.overflow.get(&key))
            .map(|s| s.raw.as_str())
    }

    /// The options a guest reads by name ([`GUEST_OPTIONS`]), with their
    /// defaults; switches as `1` or `0`. Unset options are left out.
    pub fn guest_options(&self) -> Vec<(String, String)> {
        GUEST_OPTIONS
            .iter()
            .filter_map(|&name| {
                let value = match spec(name)?.kind {
                    Kind::Switch => if self.switch(name) { "1" } else { "0" }.to_string(),
                    Kind::Enum(_) => self.enum_word(name)?.to_string(),
                    _ => self.get_raw(name)?.to_string(),
                };
                Some((name.to_string(), value))
            })
            .collect()
    }

    /// Where an option's value was written; `None` if it was not (a default, or absent).
    pub fn origin(&self, key: &str) -> Option<&Origin> {
        let key = key.to_ascii_lowercase();
        if let Some(spec) = spec(&key) {
            return self.known.get(spec.name)?.origin.as_ref();
        }
        let service_key = format!("{}_{key}", self.service);
        self.overflow
            .get(&service_key)
            .or_else(|| self.overflow.get(&key))?
            .origin
            .as_ref()
    }

    fn value(&self, name: &str) -> Option<&Value> {
        debug_assert!(spec(name).is_some(), "{name} is not in OPTIONS");
        self.known.get(name).map(|s| &s.value)
    }

    fn switch(&self, name: &str) -> bool {
        matches!(self.value(name), Some(Value::Switch(true)))
    }

    fn int(&self, name: &str) -> i64 {
        match self.value(name) {
            Some(Value::Int(n)) => *n,
            _ => 0,
        }
    }

    fn string(&self, name: &str) -> Option<&str> {
        match self.value(name) {
            Some(Value::Str(s)) => Some(s),
            _ => None,
        }
    }

    fn list(&self, name: &str) -> &[String] {
        match self.value(name) {
            Some(Value::List(l)) => l,
            _ => &[],
        }
    }

    fn duration(&self, name: &str) -> Option<Duration> {
        match self.value(name) {
            Some(Value::Duration(secs)) => Some(Duration::from_secs(*secs)),
            _ => None,
        }
    }

    fn enum_word(&self, name: &str) -> Option<&'static str> {
        match self.value(name) {
            Some(Value::Enum(w)) => Some(w),
            _ => None,
        }
    }

    /// `configdirectory` (required).
    pub fn configdirectory(&self) -> &Path {
        &self.configdirectory
    }

    /// The directory of partition `name` (`partition-<name>`, service override first).
    pub fn partition(&self, name: &str) -> Option<&Path> {
        self.get_raw(&format!("partition-{name}")).map(Path::new)
    }

    /// Every configured partition as (name, directory), sorted by name.
    pub fn partitions(&self) -> Vec<(String, PathBuf)> {
        let service_prefix = format!("{}_partition-", self.service);
        let mut names: BTreeMap<String, PathBuf> = BTreeMap::new();
        for key in self.overflow.keys() {
            let name = key
                .strip_prefix(&service_prefix)
                .or_else(|| key.strip_prefix("partition-"));
            if let Some(name) = name.filter(|n| !n.is_empty())
                && let Some(dir) = self.partition(name)
            {
                names.insert(name.to_string(), dir.to_path_buf());
            }
        }
        names.into_iter().collect()
    }

    /// The mail spool: `(name, directory)` of the default partition (`defaultpartition`, else
    /// `partition-default`, else the first `partition-*`). An error when no partition is
    /// configured; serving needs one, `imapd passwd` does not.
    pub fn default_partition(&self) -> Result<(&str, &Path)> {
        self.default_partition
            .as_ref()
            .map(|(n, d)| (n.as_str(), d.as_path()))
            .with_context(|| {
                format!(
                    "{}: no mail partition configured (set partition-default to the mail \
                     spool directory)",
                    self.file.display()
                )
            })
    }

    /// `servername`, else the host name.
    pub fn servername(&self) -> &str {
        &self.servername
    }

    /// How the log is written: ident, facility, destination.
    pub fn log_settings(&self, service: &str) -> Result<crate::ops::log::LogSettings> {
        use crate::ops::log::{Destination, LogSettings, ident, parse_facility};
        Ok(LogSettings {
            ident: ident(service, self.string("syslog_prefix")),
            facility: parse_facility(self.string("syslog_facility").unwrap_or("MAIL"))?,
            destination: match self.enum_word("log_destination") {
                Some("stderr") => Destination::Stderr,
                _ => Destination::Syslog,
            },
            socket: self.string("syslog_socket").map(PathBuf::from),
        })
    }

    /// `syslog_prefix`, which also starts SESSIONIDs (cyrus-compat 2.7).
    pub fn syslog_prefix(&self) -> Option<&str> {
        self.string("syslog_prefix")
    }

    pub fn serverinfo(&self) -> ServerInfo {
        match self.enum_word("serverinfo") {
            Some("off") => ServerInfo::Off,
            Some("min") => ServerInfo::Min,
            _ => ServerInfo::On,
        }
    }

    pub fn allowplaintext(&self) -> bool {
        self.switch("allowplaintext")
    }

    pub fn tls_required(&self) -> bool {
        self.switch("tls_required")
    }

    /// `tls_server_cert`; `disabled` counts as unset (cyrus-compat 2.1 `-s`).
    pub fn tls_server_cert(&self) -> Option<&Path> {
        self.string("tls_server_cert")
            .filter(|s| *s != "disabled")
            .map(Path::new)
    }

    /// `tls_server_key`; `disabled` counts as unset.
    pub fn tls_server_key(&self) -> Option<&Path> {
        self.string("tls_server_key")
            .filter(|s| *s != "disabled")
            .map(Path::new)
    }

    /// TLS is configured when both the certificate and the key are (cyrus-compat 2.1).
    pub fn tls_configured(&self) -> bool {
        self.tls_server_cert().is_some() && self.tls_server_key().is_some()
    }

    /// Which of the versions rustls implements `tls_versions` enables (at least one).
    pub fn tls_versions(&self) -> TlsVersions {
        let l = self.list("tls_versions");
        TlsVersions {
            tls1_2: l.iter().any(|w| w == "tls1_2"),
            tls1_3: l.iter().any(|w| w == "tls1_3"),
        }
    }

    pub fn tls_client_ca_file(&self) -> Option<&Path> {
        self.string("tls_client_ca_file").map(Path::new)
    }

    /// `tls_client_certs`: whether TLS asks for client certificates.
    pub fn tls_client_certs(&self) -> ClientCerts {
        match self.enum_word("tls_client_certs") {
            Some("off") => ClientCerts::Off,
            Some("require") => ClientCerts::Require,
            _ => ClientCerts::Optional,
        }
    }

    /// Autologout: `timeout`, never below 30 minutes (Cyrus imapd.c clamps it; RFC 3501 5.4).
    pub fn timeout(&self) -> Duration {
        const MIN: Duration = Duration::from_secs(30 * 60);
        let floor = self.duration("autologout_minimum").unwrap_or(MIN);
        self.duration("timeout").unwrap_or(MIN).max(floor)
    }

    /// The IDLE poll interval; `None` when `imapidlepoll: 0` disables IDLE.
    pub fn imapidlepoll(&self) -> Option<Duration> {
        self.duration("imapidlepoll").filter(|d| !d.is_zero())
    }

    /// `idle_keepalive`: the interval of `* OK Still here` during IDLE.
    pub fn idle_keepalive(&self) -> Option<Duration> {
        self.duration("idle_keepalive").filter(|d| !d.is_zero())
    }

    /// `idle_hibernate`: how long an IDLE session keeps its guest instance.
    pub fn idle_hibernate(&self) -> Option<Duration> {
        self.duration("idle_hibernate").filter(|d| !d.is_zero())
    }

    /// `login_timeout`: the whole time a connection may take to log in.
    pub fn login_timeout(&self) -> Option<Duration> {
        self.duration("login_timeout").filter(|d| !d.is_zero())
    }

    /// Autologout during IDLE: `imapidletimeout`, or `timeout` when unset or 0.
    pub fn imapidletimeout(&self) -> Duration {
        self.duration("imapidletimeout")
            .filter(|d| !d.is_zero())
            .unwrap_or_else(|| self.timeout())
    }

    pub fn sasl_pwcheck_method(&self) -> PwcheckMethod {
        match self.enum_word("sasl_pwcheck_method") {
            Some("saslauthd") => PwcheckMethod::Saslauthd,
            Some("alwaystrue") => PwcheckMethod::AlwaysTrue,
            _ => PwcheckMethod::PasswdFile,
        }
    }

    /// The mechanisms to offer, uppercased, in configured order, limited to
    /// [`SUPPORTED_SASL_MECHS`], without duplicates.
    pub fn sasl_mech_list(&self) -> Vec<&'static str> {
        let mut out: Vec<&'static str> = Vec::new();
        for word in self.list("sasl_mech_list") {
            if let Some(m) = SUPPORTED_SASL_MECHS
                .iter()
                .find(|m| m.eq_ignore_ascii_case(word))
                && !out.contains(m)
            {
                out.push(m);
            }
        }
        out
    }

    pub fn sasl_saslauthd_path(&self) -> &Path {
        Path::new(self.string("sasl_saslauthd_path").unwrap_or_default())
    }

    /// `passwd_file`, default `{configdirectory}/passwd`.
    pub fn passwd_file(&self) -> &Path {
        Path::new(self.string("passwd_file").unwrap_or_default())
    }

    pub fn failedloginpause(&self) -> Duration {
        self.duration("failedloginpause").unwrap_or_default()
    }

    /// `maxword` in bytes; `None` when 0 (no limit).
    pub fn maxword(&self) -> Option<u64> {
        self.limit("maxword")
    }

    /// `maxquoted` in bytes; `None` when 0 (no limit).
    pub fn maxquoted(&self) -> Option<u64> {
        self.limit("maxquoted")
    }

    /// `maxliteral` in bytes; `None` when 0 (no limit).
    pub fn maxliteral(&self) -> Option<u64> {
        self.limit("maxliteral")
    }

    /// `maxmessagesize` in bytes; `None` when 0 (no limit: APPENDLIMIT=4294967295).
    pub fn maxmessagesize(&self) -> Option<u64> {
        self.limit("maxmessagesize")
    }

    fn limit(&self, name: &str) -> Option<u64> {
        u64::try_from(self.int(name)).ok().filter(|n| *n > 0)
    }

    /// A count option where 0 means unlimited.
    fn count_limit(&self, name: &str) -> Option<u32> {
        self.limit(name).and_then(|n| u32::try_from(n).ok())
    }

    /// `virtdomains`.
    pub fn virtdomains(&self) -> crate::tenant::Mode {
        match self.enum_word("virtdomains") {
            Some("userid") => crate::tenant::Mode::Userid,
            Some("on") => crate::tenant::Mode::On,
            _ => crate::tenant::Mode::Off,
        }
    }

    /// `defaultdomain`, lowercased; checked as a domain name.
    pub fn defaultdomain(&self) -> Result<Option<String>> {
        let Some(d) = self.string("defaultdomain").map(str::trim) else {
            return Ok(None);
        };
        let d = d.to_ascii_lowercase();
        if !crate::tenant::valid_domain(&d) {
            return Err(at(
                self.origin("defaultdomain"),
                format!("defaultdomain: '{d}' is not a domain name"),
            ));
        }
        Ok(Some(d))
    }

    /// `virtdomain_addresses`: each local address (with or without a port)
    /// and its domain.
    pub fn virtdomain_addresses(&self) -> Result<Vec<(crate::tenant::Address, String)>> {
        self.list("virtdomain_addresses")
            .iter()
            .map(|entry| {
                crate::tenant::Address::parse_entry(entry).map_err(|e| {
                    at(
                        self.origin("virtdomain_addresses"),
                        format!("virtdomain_addresses: {e}"),
                    )
                })
            })
            .collect()
    }

    /// A [`Kind::PerDomain`] option (validated at load).
    pub fn per_domain(&self, name: &str) -> PerDomain {
        match self.value(name) {
            Some(Value::PerDomain(p)) => p.clone(),
            _ => PerDomain::default(),
        }
    }

    pub fn admins(&self) -> &[String] {
        self.list("admins")
    }

    /// `admins` and `proxyservers`: who may log in as another user.
    pub fn may_authorize_as_others(&self) -> Vec<String> {
        let mut all = self.admins().to_vec();
        all.extend_from_slice(self.list("proxyservers"));
        all
    }

    pub fn is_admin(&self, user: &str) -> bool {
        self.admins().iter().any(|a| a == user)
    }

    pub fn suppress_capabilities(&self) -> &[String] {
        self.list("suppress_capabilities")
    }

    pub fn autocreate_inbox_folders(&self) -> &[String] {
        self.list("autocreate_inbox_folders")
    }

    /// `autocreate_quota`: the STORAGE limit (KiB, 0: none) of the quota root a new user gets;
    /// `None` when negative (no root is made).
    pub fn autocreate_quota(&self) -> Option<u64> {
        u64::try_from(self.int("autocreate_quota")).ok()
    }

    /// `autocreate_quota_messages`: the MESSAGE limit of an autocreated root; 0 when 0 or
    /// negative (no limit).
    pub fn autocreate_quota_messages(&self) -> u64 {
        u64::try_from(self.int("autocreate_quota_messages")).unwrap_or(0)
    }

    pub fn debug_command(&self) -> Option<&str> {
        self.string("debug_command")
    }

    /// `None` when 0 (unlimited).
    pub fn maxlogins_per_user(&self) -> Option<u32> {
        self.count_limit("maxlogins_per_user")
    }

    /// `None` when 0 (unlimited).
    pub fn maxlogins_per_host(&self) -> Option<u32> {
        self.count_limit("maxlogins_per_host")
    }

    /// `None` when 0 (unlimited).
    pub fn maxpreauth_per_host(&self) -> Option<u32> {
        self.count_limit("maxpreauth_per_host")
    }

    /// The umask, e.g. `0o077`.
    pub fn umask(&self) -> u32 {
        u32::try_from(self.int("umask")).unwrap_or(0o077) & 0o777
    }

    pub fn unixhierarchysep(&self) -> bool {
        self.switch("unixhierarchysep")
    }

    pub fn altnamespace(&self) -> bool {
        self.switch("altnamespace")
    }

    /// `guest_module` as written; `None`: unset.
    pub fn guest_module(&self) -> Option<&Path> {
        self.string("guest_module").map(Path::new)
    }

    /// Where the guest module is taken from and `imapd swap` installs it:
    /// `guest_module`, else `{configdirectory}/guest.wasm` (used only when
    /// it exists; otherwise the module built into the binary).
    pub fn guest_module_path(&self) -> (PathBuf, bool) {
        match self.guest_module() {
            Some(p) => (p.to_path_buf(), true),
            None => (self.configdirectory().join("guest.wasm"), false),
        }
    }

    /// `guest_module_sha256`, lower-cased; an error naming the file and
    /// line when it is not 64 hex digits.
    pub fn guest_module_sha256(&self) -> Result<Option<String>> {
        let Some(v) = self.string("guest_module_sha256") else {
            return Ok(None);
        };
        let v = v.trim().to_ascii_lowercase();
        if v.len() != 64 || !v.bytes().all(|b| b.is_ascii_hexdigit()) {
            let at = self
                .origin("guest_module_sha256")
                .map(|o| format!("{o}: "))
                .unwrap_or_default();
            anyhow::bail!("{at}guest_module_sha256 must be 64 hex digits, not '{v}'");
        }
        Ok(Some(v))
    }

    /// `guest_cache_dir`, default `{configdirectory}/cache`.
    pub fn guest_cache_dir(&self) -> &Path {
        Path::new(self.string("guest_cache_dir").unwrap_or_default())
    }

    /// `session_memory_limit` in bytes.
    pub fn session_memory_limit(&self) -> u64 {
        u64::try_from(self.int("session_memory_limit")).unwrap_or(64 << 20)
    }

    pub fn session_cpu_limit(&self) -> Duration {
        self.duration("session_cpu_limit")
            .unwrap_or(Duration::from_secs(30))
    }

    pub fn max_sessions(&self) -> u32 {
        u32::try_from(self.int("max_sessions")).unwrap_or(1000)
    }

    /// `prometheus_enabled`.
    pub fn prometheus_enabled(&self) -> bool {
        self.switch("prometheus_enabled")
    }

    /// `prometheus_listen` as a socket address: `host:port`, `[v6]:port`,
    /// or a bare port on 127.0.0.1.
    pub fn prometheus_listen(&self) -> Result<std::net::SocketAddr> {
        let text = self
            .string("prometheus_listen")
            .unwrap_or(DEFAULT_PROMETHEUS_LISTEN)
            .trim();
        let addr = match text.parse::<u16>() {
            Ok(port) => Ok(std::net::SocketAddr::from(([127, 0, 0, 1], port))),
            Err(_) => text.parse::<std::net::SocketAddr>(),
        };
        addr.map_err(|_| {
            let at = self
                .origin("prometheus_listen")
                .map(|o| format!("{o}: "))
                .unwrap_or_default();
            anyhow!("{at}prometheus_listen: '{text}' is not host:port or a port number")
        })
    }
}

/// The README's option table, generated from [`OPTIONS`].
pub fn options_markdown_table() -> String {
    let mut out = String::from("| option | type | default | meaning |\n|---|---|---|---|\n");
    for spec in OPTIONS {
        let kind = match spec.kind {
            Kind::Enum(words) => format!("enum ({})", words.join(" / ")),
            Kind::Duration { unit } => format!(
                "duration (bare number: {})",
                if unit == 'm' { "minutes" } else { "seconds" }
            ),
            k => k.name().replace('|', "\\|"),
        };
        let default = match (spec.name, spec.default) {
            ("configdirectory", _) => "**required**".to_string(),
            ("servername", _) => "gethostname()".to_string(),
            ("imapidletimeout", _) => "= `timeout`".to_string(),
            ("guest_module", _) => "`{configdirectory}/guest.wasm`, else built in".to_string(),
            (_, Some(d)) => format!("`{d}`"),
            (_, None) => "unset".to_string(),
        };
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            spec.name,
            kind,
            default,
            spec.description.replace('|', "\\|")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const BASE: &str = "configdirectory: /var/lib/imap\n";

    fn parse(text: &str) -> Result<Config> {
        Config::parse_str(text, "/etc/t.conf", "imap")
    }

    fn conf(text: &str) -> Config {
        match parse(&format!("{BASE}{text}")) {
            Ok(c) => c,
            Err(e) => panic!("unexpected error: {e:#}"),
        }
    }

    fn err(text: &str) -> String {
        match parse(text) {
            Ok(_) => panic!("no error for {text:?}"),
            Err(e) => format!("{e:#}"),
        }
    }

    /// A fresh, empty directory for tests that need real files.
    fn scratch_dir(tag: &str) -> PathBuf {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "imapd-config-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn key_value_lines_comments_and_blanks() {
        let c =
            conf("\n   # a comment\n\t servername:   imap.example.org  \n# servername: other\n\n");
        assert_eq!(c.servername(), "imap.example.org");
        assert_eq!(c.origin("servername").unwrap().to_string(), "/etc/t.conf:4");
        assert_eq!(c.configdirectory(), Path::new("/var/lib/imap"));
    }

    #[test]
    fn no_trailing_comments() {
        let c = conf("debug_command: echo hi # not a comment\n");
        assert_eq!(c.debug_command(), Some("echo hi # not a comment"));
    }

    #[test]
    fn keys_are_case_insensitive() {
        let c = conf("ServerName: a.example\nALLOWPLAINTEXT: yes\nPartition-Default: /s\n");
        assert_eq!(c.servername(), "a.example");
        assert!(c.allowplaintext());
        assert_eq!(c.partition("default"), Some(Path::new("/s")));
        assert_eq!(c.get_raw("SERVERNAME"), Some("a.example"));
    }

    #[test]
    fn missing_colon_is_fatal_with_file_and_line() {
        assert_eq!(
            err("configdirectory: /x\n\nservername\n"),
            "/etc/t.conf:3: missing ':' after option name 'servername'"
        );
        assert_eq!(
            err("configdirectory: /x\nserver name: x\n"),
            "/etc/t.conf:2: invalid character ' ' in option name (names are letters, digits, \
             '-' and '_', followed by ':')"
        );
        assert_eq!(
            err("configdirectory: /x\n: x\n"),
            "/etc/t.conf:2: empty option name before ':'"
        );
    }

    #[test]
    fn empty_value_is_fatal() {
        assert_eq!(
            err("configdirectory: /x\nservername:   \t\n"),
            "/etc/t.conf:2: empty value for option 'servername'"
        );
    }

    #[test]
    fn backslash_joins_lines_without_a_space() {
        let c = conf("servername: imap.\\\nexample.org\nadmins: alice \\\n  bob\n");
        assert_eq!(c.servername(), "imap.example.org");
        assert_eq!(c.get_raw("admins"), Some("alice   bob"));
        assert_eq!(c.admins(), ["alice", "bob"]);
        // The entry is reported at the line where it starts.
        assert_eq!(c.origin("admins").unwrap().line, 4);
    }

    #[test]
    fn continued_comment_swallows_next_line() {
        // As in Cyrus, joining happens before comments are recognised.
        let c = conf("# comment \\\nservername: hidden\n");
        assert_ne!(c.servername(), "hidden");
        assert_eq!(c.origin("servername"), None);
    }

    #[test]
    fn error_in_continued_entry_names_its_first_line() {
        assert_eq!(
            err("configdirectory: /x\nallowplaintext: \\\nmaybe\n"),
            "/etc/t.conf:2: invalid value 'maybe' for switch option 'allowplaintext' (use \
             yes/no, on/off, true/false or 1/0)"
        );
    }

    #[test]
    fn crlf_lines_are_accepted() {
        let c = conf("servername: a.example\r\nadmins: x\\\r\ny\r\n");
        assert_eq!(c.servername(), "a.example");
        assert_eq!(c.admins(), ["xy"]);
    }

    #[test]
    fn option_given_twice_is_fatal() {
        assert_eq!(
            err("configdirectory: /x\nservername: a\n\nservername: b\n"),
            "/etc/t.conf:4: option 'servername' was specified twice (first at /etc/t.conf:2)"
        );
        // Unknown keys too.
        assert_eq!(
            err("configdirectory: /x\npartition-default: /a\nPARTITION-default: /b\n"),
            "/etc/t.conf:3: option 'PARTITION-default' was specified twice"
        );
    }

    #[test]
    fn service_override_wins_regardless_of_order() {
        let before = conf("imap_servername: svc\nservername: generic\n");
        assert_eq!(before.servername(), "svc");
        let after = conf("servername: generic\nimap_servername: svc\n");
        assert_eq!(after.servername(), "svc");
        assert_eq!(after.origin("servername").unwrap().line, 3);
        // Another service's override is just an unknown key for us.
        let other = conf("servername: generic\nimaps_servername: svc\n");
        assert_eq!(other.servername(), "generic");
        assert_eq!(other.get_raw("imaps_servername"), Some("svc"));
        // The service name is matched case-insensitively, like keys.
        let upper = Config::parse_str(
            "configdirectory: /x\nIMAPS_servername: s\nservername: g\n",
            "t.conf",
            "IMAPS",
        )
        .unwrap();
        assert_eq!(upper.servername(), "s");
    }

    #[test]
    fn service_override_twice_is_fatal_but_generic_after_it_is_skipped() {
        assert_eq!(
            err("configdirectory: /x\nimap_timeout: 40\nimap_timeout: 50\n"),
            "/etc/t.conf:3: option 'imap_timeout' was specified twice (first at /etc/t.conf:2)"
        );
        assert_eq!(
            err("configdirectory: /x\ntimeout: 40\ntimeout: 50\nimap_timeout: 60\n"),
            "/etc/t.conf:3: option 'timeout' was specified twice (first at /etc/t.conf:2)"
        );
        // Cyrus skips a generic value after the service one without even parsing it.
        let c = conf("imap_timeout: 40\ntimeout: bogus\n");
        assert_eq!(c.timeout(), Duration::from_secs(40 * 60));
    }

    #[test]
    fn service_override_of_unknown_keys() {
        let c = conf("partition-default: /generic\nimap_partition-default: /svc\n");
        assert_eq!(c.partition("default"), Some(Path::new("/svc")));
        assert_eq!(
            c.default_partition().unwrap(),
            ("default", Path::new("/svc"))
        );
        let c = conf("imap_sasl_foo: 1\nsasl_foo: 2\nsasl_bar: 3\n");
        assert_eq!(c.get_raw("sasl_foo"), Some("1"));
        assert_eq!(c.get_raw("sasl_bar"), Some("3"));
    }

    #[test]
    fn unknown_keys_are_kept() {
        let c = conf("lmtp_overquota_perm_failure: yes\nsieve_maxscripts: 5\n");
        assert_eq!(c.get_raw("sieve_maxscripts"), Some("5"));
        assert_eq!(c.origin("sieve_maxscripts").unwrap().line, 3);
        assert_eq!(c.get_raw("nonexistent"), None);
    }

    #[test]
    fn unknown_directive_is_fatal() {
        assert_eq!(
            err("configdirectory: /x\n@import: foo\n"),
            "/etc/t.conf:2: unknown directive '@import' (only @include exists)"
        );
    }

    #[test]
    fn configdirectory_is_required() {
        assert_eq!(
            err("servername: a\n"),
            "/etc/t.conf: required option 'configdirectory' is not set"
        );
    }

    #[test]
    fn switch_values() {
        for (v, want) in [
            ("1", true),
            ("yes", true),
            ("y", true),
            ("true", true),
            ("t", true),
            ("on", true),
            ("0", false),
            ("no", false),
            ("n", false),
            ("false", false),
            ("f", false),
            ("off", false),
            ("of", false),
            ("yikes", true), // only the first character matters, as in Cyrus
        ] {
            assert_eq!(
                conf(&format!("allowplaintext: {v}\n")).allowplaintext(),
                want,
                "{v}"
            );
        }
        for bad in ["o", "Yes", "2", "enable"] {
            assert_eq!(
                err(&format!("configdirectory: /x\ntls_required: {bad}\n")),
                format!(
                    "/etc/t.conf:2: invalid value '{bad}' for switch option 'tls_required' (use \
                     yes/no, on/off, true/false or 1/0)"
                )
            );
        }
    }

    #[test]
    fn int_values_are_strtol_base_0() {
        assert_eq!(conf("maxword: 4096\n").maxword(), Some(4096));
        assert_eq!(conf("maxword: 0x1000\n").maxword(), Some(4096));
        assert_eq!(conf("maxword: 010\n").maxword(), Some(8));
        assert_eq!(conf("maxword: +7\n").maxword(), Some(7));
        assert_eq!(conf("maxword: 0\n").maxword(), None);
        assert_eq!(conf("umask: 027\n").umask(), 0o027);
        assert_eq!(conf("").umask(), 0o077);
        assert_eq!(
            conf("maxlogins_per_user: 3\n").maxlogins_per_user(),
            Some(3)
        );
        assert_eq!(conf("").maxlogins_per_host(), None);
        assert_eq!(
            err("configdirectory: /x\nmaxword: 12k\n"),
            "/etc/t.conf:2: invalid value '12k' for integer option 'maxword'"
        );
        assert_eq!(
            err("configdirectory: /x\numask: 08\n"),
            "/etc/t.conf:2: invalid value '08' for integer option 'umask'"
        );
        assert_eq!(
            err("configdirectory: /x\nmaxword: --1\n"),
            "/etc/t.conf:2: invalid value '--1' for integer option 'maxword'"
        );
        assert_eq!(
            err("configdirectory: /x\nmaxliteral: -1\n"),
            "/etc/t.conf:2: value '-1' for option 'maxliteral' is out of range (0 to 2147483647)"
        );
        assert_eq!(
            err("configdirectory: /x\nmax_sessions: 0\n"),
            "/etc/t.conf:2: value '0' for option 'max_sessions' is out of range (1 to 2147483647)"
        );
    }

    #[test]
    fn enum_values() {
        assert_eq!(conf("").serverinfo(), ServerInfo::On);
        assert_eq!(conf("serverinfo: min\n").serverinfo(), ServerInfo::Min);
        assert_eq!(conf("serverinfo: off\n").serverinfo(), ServerInfo::Off);
        // Cyrus maps boolean words onto on/off for enums.
        assert_eq!(conf("serverinfo: no\n").serverinfo(), ServerInfo::Off);
        assert_eq!(conf("serverinfo: true\n").serverinfo(), ServerInfo::On);
        assert_eq!(
            err("configdirectory: /x\nserverinfo: ON\n"),
            "/etc/t.conf:2: invalid value 'ON' for option 'serverinfo' (one of: off, min, on)"
        );
        assert_eq!(conf("").sasl_pwcheck_method(), PwcheckMethod::PasswdFile);
        assert_eq!(
            conf("sasl_pwcheck_method: saslauthd\n").sasl_pwcheck_method(),
            PwcheckMethod::Saslauthd
        );
        assert_eq!(
            conf("sasl_pwcheck_method: alwaystrue\n").sasl_pwcheck_method(),
            PwcheckMethod::AlwaysTrue
        );
        assert_eq!(
            err("configdirectory: /x\nsasl_pwcheck_method: auxprop\n"),
            "/etc/t.conf:2: invalid value 'auxprop' for option 'sasl_pwcheck_method' (one of: \
             passwd_file, saslauthd, alwaystrue)"
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1h30m", 's'), Ok(5400));
        assert_eq!(parse_duration("1d", 's'), Ok(86400));
        assert_eq!(parse_duration("2m3", 's'), Ok(123));
        assert_eq!(parse_duration("1h30", 'm'), Ok(5400));
        assert_eq!(parse_duration("0", 'm'), Ok(0));
        assert_eq!(
            parse_duration("h", 's'),
            Err("no digit before 'h'".to_string())
        );
        assert_eq!(
            parse_duration("5x", 's'),
            Err("bad unit 'x' (use d, h, m or s)".into())
        );
        assert_eq!(
            parse_duration("1hm", 's'),
            Err("no digit before 'm'".to_string())
        );
        assert_eq!(
            parse_duration("99999999999d", 's'),
            Err("too large".to_string())
        );

        assert_eq!(conf("").timeout(), Duration::from_secs(32 * 60));
        assert_eq!(
            conf("timeout: 45\n").timeout(),
            Duration::from_secs(45 * 60)
        );
        assert_eq!(conf("timeout: 1h\n").timeout(), Duration::from_secs(3600));
        // cyrus-compat 2.6: never below 30 minutes.
        assert_eq!(
            conf("timeout: 10\n").timeout(),
            Duration::from_secs(30 * 60)
        );
        assert_eq!(
            conf("timeout: 90s\n").timeout(),
            Duration::from_secs(30 * 60)
        );

        assert_eq!(conf("").imapidlepoll(), Some(Duration::from_secs(60)));
        assert_eq!(
            conf("imapidlepoll: 5\n").imapidlepoll(),
            Some(Duration::from_secs(5))
        );
        assert_eq!(conf("imapidlepoll: 0\n").imapidlepoll(), None);
        assert_eq!(conf("").idle_hibernate(), Some(Duration::from_secs(30)));
        assert_eq!(
            conf("idle_hibernate: 2\n").idle_hibernate(),
            Some(Duration::from_secs(2))
        );
        assert_eq!(conf("idle_hibernate: 0\n").idle_hibernate(), None);
        assert_eq!(conf("").imapidletimeout(), Duration::from_secs(32 * 60));
        assert_eq!(
            conf("timeout: 40\n").imapidletimeout(),
            Duration::from_secs(40 * 60)
        );
        assert_eq!(
            conf("imapidletimeout: 5\n").imapidletimeout(),
            Duration::from_secs(5 * 60)
        );
        assert_eq!(conf("").failedloginpause(), Duration::from_secs(3));
        assert_eq!(
            conf("failedloginpause: 0\n").failedloginpause(),
            Duration::ZERO
        );
        assert_eq!(conf("").session_cpu_limit(), Duration::from_secs(30));
        assert_eq!(
            conf("session_cpu_limit: 2m\n").session_cpu_limit(),
            Duration::from_secs(120)
        );

        assert_eq!(
            err("configdirectory: /x\ntimeout: 5 min\n"),
            "/etc/t.conf:2: invalid duration '5 min' for option 'timeout': bad unit ' ' (use \
             d, h, m or s)"
        );
        assert_eq!(
            err("configdirectory: /x\nimapidlepoll: -5\n"),
            "/etc/t.conf:2: invalid duration '-5' for option 'imapidlepoll': negative \
             durations are not allowed"
        );
    }

    #[test]
    fn byte_sizes() {
        assert_eq!(parse_bytesize("100"), Ok(100));
        assert_eq!(parse_bytesize("64M"), Ok(64 << 20));
        assert_eq!(parse_bytesize("64 MiB"), Ok(64 << 20));
        assert_eq!(parse_bytesize("2g"), Ok(2 << 30));
        assert_eq!(parse_bytesize("512KB"), Ok(512 << 10));
        assert_eq!(parse_bytesize("10B"), Ok(10));
        assert_eq!(parse_bytesize("M"), Err("no digits".to_string()));
        assert_eq!(
            parse_bytesize("5T"),
            Err("bad unit 'T' (use K, M or G)".to_string())
        );
        assert_eq!(conf("").session_memory_limit(), 64 << 20);
        assert_eq!(
            conf("session_memory_limit: 1G\n").session_memory_limit(),
            1 << 30
        );
        assert_eq!(
            err("configdirectory: /x\nsession_memory_limit: -1\n"),
            "/etc/t.conf:2: invalid byte size '-1' for option 'session_memory_limit': no digits"
        );
    }

    #[test]
    fn string_lists() {
        let c = conf("admins: cyrus  root\tadmin\nsuppress_capabilities: ESEARCH ACL\n");
        assert_eq!(c.admins(), ["cyrus", "root", "admin"]);
        assert!(c.is_admin("root"));
        assert!(!c.is_admin("Root"));
        assert_eq!(c.suppress_capabilities(), ["ESEARCH", "ACL"]);
        assert!(conf("").admins().is_empty());
        let c = conf("autocreate_inbox_folders: Sent | Drafts |Trash|| Junk Mail \n");
        assert_eq!(
            c.autocreate_inbox_folders(),
            ["Sent", "Drafts", "Trash", "Junk Mail"]
        );
        assert!(conf("").autocreate_inbox_folders().is_empty());
    }

    #[test]
    fn literalminus_reaches_the_guest() {
        let opts = |text: &str| conf(text).guest_options();
        // A switch, off by default (cyrus-compat 3.2), passed as 0/1.
        assert!(opts("").contains(&("literalminus".into(), "0".into())));
        assert!(opts("literalminus: yes\n").contains(&("literalminus".into(), "1".into())));
        assert!(opts("literalminus: 0\n").contains(&("literalminus".into(), "0".into())));
        let e = err("configdirectory: /x\nliteralminus: maybe\n");
        assert!(e.contains("literalminus"), "{e}");
    }

    #[test]
    fn quota_options_have_cyrus_defaults() {
        let c = conf("");
        assert_eq!(c.autocreate_quota(), None);
        assert_eq!(c.autocreate_quota_messages(), 0);
        assert_eq!(c.get_raw("quotawarn"), Some("90"));
        assert!(
            c.guest_options()
                .contains(&("quotawarn".into(), "90".into()))
        );
        let c = conf("autocreate_quota: 0\nautocreate_quota_messages: 50\nquotawarn: 80\n");
        assert_eq!(c.autocreate_quota(), Some(0));
        assert_eq!(c.autocreate_quota_messages(), 50);
        assert!(
            c.guest_options()
                .contains(&("quotawarn".into(), "80".into()))
        );
        let c = conf("autocreate_quota: 100\nautocreate_quota_messages: -5\n");
        assert_eq!(c.autocreate_quota(), Some(100));
        assert_eq!(c.autocreate_quota_messages(), 0);
        assert_eq!(conf("autocreate_quota: -7\n").autocreate_quota(), None);
        let e = err("configdirectory: /x\nautocreate_quota: lots\n");
        assert!(e.contains("autocreate_quota"), "{e}");
    }

    #[test]
    fn special_use_options_reach_the_guest() {
        for name in GUEST_OPTIONS {
            assert!(spec(name).is_some(), "{name} is not in OPTIONS");
        }
        let opts = |text: &str| conf(text).guest_options();
        // specialusealways is on unless turned off (Cyrus 3.6's default).
        assert!(opts("").contains(&("specialusealways".into(), "1".into())));
        assert!(opts("specialusealways: off\n").contains(&("specialusealways".into(), "0".into())));
        // Cyrus's xlist-<flag>: the folder named keeps its spaces.
        let o = opts(
            "autocreate_inbox_folders: Spam | Sent Items\nxlist-junk: Spam\nxlist-sent: Sent Items\n",
        );
        assert!(o.contains(&("xlist-junk".into(), "Spam".into())), "{o:?}");
        assert!(
            o.contains(&("xlist-sent".into(), "Sent Items".into())),
            "{o:?}"
        );
        assert!(!o.iter().any(|(n, _)| n == "xlist-trash"), "{o:?}");
    }

    #[test]
    fn sasl_options() {
        let c = conf("");
        assert_eq!(c.sasl_mech_list(), ["PLAIN", "LOGIN"]);
        assert_eq!(c.sasl_saslauthd_path(), Path::new("/var/run/saslauthd/mux"));
        let c = conf("sasl_mech_list: cram-md5 login DIGEST-MD5 plain LOGIN\n");
        assert_eq!(c.sasl_mech_list(), ["LOGIN", "PLAIN"]);
        let c = conf("sasl_saslauthd_path: /run/sasl/mux\n");
        assert_eq!(c.sasl_saslauthd_path(), Path::new("/run/sasl/mux"));
    }

    #[test]
    fn tls_options() {
        let c = conf("");
        assert!(!c.tls_configured());
        assert_eq!(
            c.tls_versions(),
            TlsVersions {
                tls1_2: true,
                tls1_3: true
            }
        );
        let c = conf("tls_server_cert: /c.pem\ntls_server_key: /k.pem\n");
        assert!(c.tls_configured());
        assert_eq!(c.tls_server_cert(), Some(Path::new("/c.pem")));
        assert_eq!(c.tls_server_key(), Some(Path::new("/k.pem")));
        let c = conf("tls_server_cert: disabled\ntls_server_key: /k.pem\n");
        assert!(!c.tls_configured());
        let c = conf("tls_versions: tls1_0 tls1_1 tls1_2\n");
        assert_eq!(
            c.tls_versions(),
            TlsVersions {
                tls1_2: true,
                tls1_3: false
            }
        );
        assert_eq!(
            err("configdirectory: /x\ntls_versions: tls1_0 tls1_1\n"),
            "/etc/t.conf:2: tls_versions enables neither tls1_2 nor tls1_3, the only versions \
             rustls implements"
        );
        assert_eq!(
            err("configdirectory: /x\ntls_versions: ssl3 tls1_3\n"),
            "/etc/t.conf:2: unknown TLS version 'ssl3' in tls_versions (one of: tls1_0, \
             tls1_1, tls1_2, tls1_3)"
        );
        assert_eq!(c.tls_client_ca_file(), None);
        let c = conf("tls_client_ca_file: /ca.pem\n");
        assert_eq!(c.tls_client_ca_file(), Some(Path::new("/ca.pem")));
    }

    #[test]
    fn defaults_match_cyrus_and_ours() {
        let c = conf("");
        assert_eq!(c.serverinfo(), ServerInfo::On);
        assert!(!c.allowplaintext());
        assert!(!c.tls_required());
        assert_eq!(c.maxword(), Some(131072));
        assert_eq!(c.maxquoted(), Some(131072));
        assert_eq!(c.maxliteral(), Some(131072));
        assert_eq!(c.maxmessagesize(), None);
        assert!(c.unixhierarchysep());
        assert!(c.altnamespace());
        assert_eq!(c.debug_command(), None);
        assert_eq!(c.guest_module(), None);
        assert_eq!(c.max_sessions(), 1000);
        assert_eq!(c.servername(), hostname());
        assert!(!c.servername().is_empty());
        // `{configdirectory}` defaults are expanded.
        assert_eq!(c.passwd_file(), Path::new("/var/lib/imap/passwd"));
        assert_eq!(c.guest_cache_dir(), Path::new("/var/lib/imap/cache"));
        assert_eq!(c.get_raw("passwd_file"), Some("/var/lib/imap/passwd"));
        assert_eq!(c.origin("passwd_file"), None);
        let c = conf("passwd_file: /etc/imapd.passwd\nguest_module: /opt/g.wasm\n");
        assert_eq!(c.passwd_file(), Path::new("/etc/imapd.passwd"));
        assert_eq!(c.guest_module(), Some(Path::new("/opt/g.wasm")));
    }

    #[test]
    fn every_builtin_default_parses() {
        for spec in OPTIONS {
            if let Some(d) = spec.default {
                let d = d.replace("{configdirectory}", "/x");
                assert!(parse_value(spec, &d).is_ok(), "default of {}", spec.name);
            }
            // Every named option has an accessor-visible entry in the table.
            assert!(!spec.description.is_empty());
        }
    }

    #[test]
    fn partitions() {
        assert!(
            conf("")
                .default_partition()
                .unwrap_err()
                .to_string()
                .contains("no mail partition configured")
        );
        let c = conf("partition-zz: /z\npartition-aa: /a\n");
        assert_eq!(c.default_partition().unwrap(), ("aa", Path::new("/a")));
        assert_eq!(
            c.partitions(),
            [
                ("aa".to_string(), "/a".into()),
                ("zz".to_string(), "/z".into())
            ]
        );
        let c = conf("partition-zz: /z\npartition-default: /d\n");
        assert_eq!(c.default_partition().unwrap(), ("default", Path::new("/d")));
        let c = conf("partition-default: /d\npartition-big: /b\ndefaultpartition: BIG\n");
        assert_eq!(c.default_partition().unwrap(), ("big", Path::new("/b")));
        assert_eq!(
            err("configdirectory: /x\npartition-a: /a\ndefaultpartition: a-1\n"),
            "/etc/t.conf:3: defaultpartition 'a-1' is not alphanumeric"
        );
        assert_eq!(
            err("configdirectory: /x\npartition-a: /a\ndefaultpartition: b\n"),
            "/etc/t.conf:3: defaultpartition 'b' has no partition-b option"
        );
    }

    #[test]
    fn include_relative_to_including_file() {
        let dir = scratch_dir("include");
        std::fs::create_dir(dir.join("conf.d")).unwrap();
        std::fs::write(
            dir.join("imapd.conf"),
            "configdirectory: /v\n@include: conf.d/tls.conf\nservername: main\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("conf.d/tls.conf"),
            "tls_server_cert: /c\n@INCLUDE: key.conf\n",
        )
        .unwrap();
        std::fs::write(dir.join("conf.d/key.conf"), "\ntls_server_key: /k\n").unwrap();
        let c = Config::load(&dir.join("imapd.conf"), "imap").unwrap();
        assert_eq!(c.servername(), "main");
        assert!(c.tls_configured());
        let o = c.origin("tls_server_key").unwrap();
        assert_eq!(o.file, dir.join("conf.d/key.conf"));
        assert_eq!(o.line, 2);
        assert_eq!(c.file(), dir.join("imapd.conf"));

        // Errors inside an included file name that file.
        std::fs::write(dir.join("conf.d/key.conf"), "tls_server_key\n").unwrap();
        let e = Config::load(&dir.join("imapd.conf"), "imap").unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "{}:1: missing ':' after option name 'tls_server_key'",
                dir.join("conf.d/key.conf").display()
            )
        );

        // A duplicate across files is still a duplicate.
        std::fs::write(dir.join("conf.d/key.conf"), "servername: x\n").unwrap();
        let e = Config::load(&dir.join("imapd.conf"), "imap").unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "{}:3: option 'servername' was specified twice (first at {}:1)",
                dir.join("imapd.conf").display(),
                dir.join("conf.d/key.conf").display()
            )
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn include_twice_and_cycles_are_fatal() {
        let dir = scratch_dir("twice");
        let main = dir.join("imapd.conf");
        std::fs::write(dir.join("a.conf"), "servername: a\n").unwrap();
        std::fs::write(
            &main,
            "configdirectory: /v\n@include: a.conf\n@include: ./a.conf\n",
        )
        .unwrap();
        assert_eq!(
            Config::load(&main, "imap").unwrap_err().to_string(),
            format!(
                "{}:3: configuration file {} included twice",
                main.display(),
                dir.join("./a.conf").display()
            )
        );

        std::fs::write(&main, "configdirectory: /v\n@include: b.conf\n").unwrap();
        std::fs::write(dir.join("b.conf"), "\n@include: imapd.conf\n").unwrap();
        let canon = std::fs::canonicalize(&dir).unwrap();
        assert_eq!(
            Config::load(&main, "imap").unwrap_err().to_string(),
            format!(
                "{}:2: include cycle: {} -> {} -> {}",
                dir.join("b.conf").display(),
                canon.join("imapd.conf").display(),
                canon.join("b.conf").display(),
                canon.join("imapd.conf").display()
            )
        );

        std::fs::write(&main, "configdirectory: /v\n@include: missing.conf\n").unwrap();
        let e = Config::load(&main, "imap").unwrap_err().to_string();
        assert!(
            e.starts_with(&format!(
                "{}:2: can't open configuration file {}: ",
                main.display(),
                dir.join("missing.conf").display()
            )),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn missing_file_is_an_error_naming_it() {
        let e = Config::load(Path::new("/nonexistent/imapd.conf"), "imap").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("can't open configuration file /nonexistent/imapd.conf: "),
            "{e}"
        );
    }

    #[test]
    fn markdown_table_lists_every_option() {
        let t = options_markdown_table();
        for spec in OPTIONS {
            assert!(t.contains(&format!("| `{}` |", spec.name)), "{}", spec.name);
        }
        assert!(t.contains("| `timeout` | duration (bare number: minutes) | `32m` |"));
        assert!(t.contains("`Sent \\| Drafts \\| Trash`"));
        assert!(t.contains("| string (`\\|`-separated) |"));
        // Every row has exactly four cells: no unescaped `|` inside one.
        for row in t.lines() {
            assert_eq!(row.replace("\\|", "").matches('|').count(), 5, "{row}");
        }
        assert_eq!(t.lines().count(), OPTIONS.len() + 2);
    }

    #[test]
    fn prometheus_listener_is_off_and_on_loopback_by_default() {
        assert!(!conf("").prometheus_enabled());
        assert!(conf("prometheus_enabled: yes\n").prometheus_enabled());
        let addr = |t: &str| conf(t).prometheus_listen().map(|a| a.to_string());
        assert_eq!(addr("").unwrap(), "127.0.0.1:9143");
        assert_eq!(addr("prometheus_listen: 9000\n").unwrap(), "127.0.0.1:9000");
        assert_eq!(
            addr("prometheus_listen: 0.0.0.0:9001\n").unwrap(),
            "0.0.0.0:9001"
        );
        assert_eq!(
            addr("prometheus_listen: [::1]:9002\n").unwrap(),
            "[::1]:9002"
        );
        let e = addr("prometheus_listen: localhost\n").unwrap_err();
        assert!(format!("{e:#}").contains("prometheus_listen"), "{e:#}");
    }

    #[test]
    fn binary_garbage_is_an_error_not_a_panic() {
        let e = err("configdirectory: /x\n\u{fffd}\u{0}: x\n");
        assert!(e.starts_with("/etc/t.conf:2: invalid character"), "{e}");
        let c = conf("servername: caf\u{e9}.example\n");
        assert_eq!(c.servername(), "caf\u{e9}.example");
    }
}

#[cfg(test)]
mod readme_tests {
    /// The README's option table is this table (`imapd options` prints it).
    #[test]
    fn readme_lists_every_option_as_the_table_says() {
        let readme =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
        assert!(
            readme.contains(&super::options_markdown_table()),
            "README.md's option table is stale: regenerate it with `imapd options`"
        );
    }
}
