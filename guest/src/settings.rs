//! The per-connection settings the host hands the guest (`record settings`
//! in `wit/session.wit`), as a plain Rust struct.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum ServerInfo {
    #[default]
    On,
    Min,
    Off,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    pub servername: String,
    pub server_info: ServerInfo,
    pub product: String,
    pub version: String,
    pub session_id: String,
    pub allow_plaintext: bool,
    pub tls_required: bool,
    pub starttls_available: bool,
    pub tls_active: bool,
    pub external_ssf: u32,
    pub mechanisms: Vec<String>,
    pub max_word: u32,
    pub max_quoted: u32,
    pub max_literal: u32,
    pub max_message_size: u64,
    pub suppress_capabilities: Vec<String>,
    pub motd: Option<String>,
    pub autocreate_folders: Vec<String>,
    pub idle_enabled: bool,
    /// imapd.conf options read by name (host `GUEST_OPTIONS`), defaults
    /// applied, switches as `1`/`0`.
    pub options: Vec<(String, String)>,
}

impl Settings {
    /// The value of imapd.conf option `name`, if the host passed it.
    pub fn option(&self, name: &str) -> Option<&str> {
        self.options
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// A switch option; `default` if the host did not pass it.
    pub fn switch(&self, name: &str, default: bool) -> bool {
        self.option(name).map_or(default, |v| v == "1")
    }
}

impl Default for Settings {
    /// Cyrus 3.6's defaults (cyrus-compat.md 3.2) for a connection without TLS.
    fn default() -> Self {
        Settings {
            servername: "localhost".into(),
            server_info: ServerInfo::On,
            product: "imapd".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            session_id: "localhost-0-0-0".into(),
            allow_plaintext: false,
            tls_required: false,
            starttls_available: false,
            tls_active: false,
            external_ssf: 0,
            mechanisms: vec!["PLAIN".into()],
            max_word: 131072,
            max_quoted: 131072,
            max_literal: 131072,
            max_message_size: 0,
            suppress_capabilities: Vec::new(),
            motd: None,
            autocreate_folders: Vec::new(),
            idle_enabled: false,
            options: Vec::new(),
        }
    }
}
