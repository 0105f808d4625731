//! Authentication, done by the host for the guest's LOGIN and
//! AUTHENTICATE: password checks (the password file, saslauthd or
//! `alwaystrue`, `sasl_pwcheck_method`; `-N`) for LOGIN, PLAIN and LOGIN,
//! the SASL exchanges the host runs from end to end ([`scram`],
//! [`external`]), which mechanisms a connection is offered, and the
//! `failedloginpause` that a failure costs the client (a sleep of that
//! session only).

pub mod external;
pub mod scram;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;

use crate::passwd::PasswordFile;
use crate::tls::TlsInfo;
use scram::{ChannelBindings, ScramHash, ScramServer, StoredKeys};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    /// `passwd_file`: our own file of `user:{SCHEME}hash` lines.
    PasswdFile,
    /// `saslauthd`: ask saslauthd over its unix socket.
    Saslauthd(PathBuf),
    /// `alwaystrue`: any password is right (Cyrus's test method).
    AlwaysTrue,
}

pub enum Verdict {
    Ok(String),
    BadCredentials,
    Unavailable(String),
}

pub struct Authenticator {
    pub method: Method,
    pub passwords: Arc<PasswordFile>,
    pub service: String,
    /// `-N`: LOGIN skips the password check (AUTHENTICATE does not).
    pub no_password_for_login: bool,
    pub failed_login_pause: Duration,
    /// `admins` and `proxyservers`: who may authenticate as themselves and
    /// be authorized as another user (rfc4616 authzid; Cyrus's proxy
    /// policy).
    pub may_authorize: Vec<String>,
    /// `virtdomains`: how SASL's user names (SCRAM, EXTERNAL) become users.
    pub domains: crate::tenant::Domains,
}

impl Authenticator {
    /// Check one login. Runs the (CPU-heavy or blocking) check off the
    /// async threads, and sleeps `failedloginpause` after a failure
    /// without holding anything another session needs.
    pub async fn check(&self, mech: &str, authzid: &str, user: &str, password: &str) -> Verdict {
        // rfc4616 2: an authzid other than the user is proxy authorization,
        // which only `admins` and `proxyservers` have (as in Cyrus); for
        // anyone else it fails like a wrong password.
        let proxy = !authzid.is_empty() && authzid != user;
        let verdict = if !valid_user_name(user)
            || (proxy
                && (!valid_user_name(authzid)
                    || !self.may_authorize.iter().any(|u| u == user)
                    || !self.may_reach(user, authzid)))
        {
            Verdict::BadCredentials
        } else if self.no_password_for_login && mech.eq_ignore_ascii_case("LOGIN") {
            Verdict::Ok(user.to_string())
        } else {
            let r = self.verify_blocking(user, password).await;
            match r {
                Ok(true) if proxy => {
                    crate::syslog!(
                        Notice,
                        "proxy authorization: {} logs in as {}",
                        crate::ops::log::clean(user),
                        crate::ops::log::clean(authzid)
                    );
                    Verdict::Ok(authzid.to_string())
                }
                Ok(true) => Verdict::Ok(user.to_string()),
                Ok(false) => Verdict::BadCredentials,
                Err(e) => Verdict::Unavailable(format!("{e:#}")),
            }
        };
        if !matches!(verdict, Verdict::Ok(_)) {
            tokio::time::sleep(self.failed_login_pause).await;
        }
        verdict
    }

    /// Proxy authorization stays within the authorizer's domain: an
    /// administrator of `example.com` acts only as its users; one of the
    /// default domain (a global one) as anyone.
    fn may_reach(&self, user: &str, authzid: &str) -> bool {
        match self.domains.split(user).1 {
            None => true,
            Some(d) => self.domains.split(authzid).1 == Some(d),
        }
    }

    async fn verify_blocking(&self, user: &str, password: &str) -> Result<bool> {
        let (user, password) = (user.to_string(), password.to_string());
        match &self.method {
            Method::AlwaysTrue => Ok(true),
            Method::PasswdFile => {
                let file = self.passwords.clone();
                tokio::task::spawn_blocking(move || file.verify(&user, password.as_bytes())).await?
            }
            Method::Saslauthd(path) => {
                let (path, service) = (path.clone(), self.service.clone());
                tokio::task::spawn_blocking(move || {
                    crate::saslauthd::check(&path, &user, password.as_bytes(), &service, "")
                })
                .await?
            }
        }
    }
}

/// A SASL exchange the host runs itself, between two client messages.
pub enum Exchange {
    /// SCRAM, waiting for the client-first-message (no initial response).
    ScramFirst { hash: ScramHash, plus: bool },
    /// SCRAM, server-first-message sent; waiting for the client's final one.
    ScramFinal(Box<ScramServer>),
    /// SCRAM, server-final-message sent as a challenge (IMAP has no
    /// success data, rfc9051 6.2.2); waiting for the client's empty answer.
    ScramVerified { user: String },
    /// EXTERNAL, waiting for the authorization identity (no initial response).
    External,
}

/// One step of a host-run SASL exchange.
#[derive(Debug, PartialEq, Eq)]
pub enum SaslStep {
    /// Send this to the client; its answer continues the exchange.
    Challenge(Vec<u8>),
    /// Authenticated as this user.
    Success(String),
    /// Failed (after `failedloginpause`): the user named, if any, and why,
    /// for the log.
    Failure { user: String, why: String },
    /// The credentials could not be read.
    Unavailable(String),
}

/// The host-run mechanisms: names the guest passes through.
fn host_mechanism(mech: &str) -> Option<HostMech> {
    if mech.eq_ignore_ascii_case("EXTERNAL") {
        return Some(HostMech::External);
    }
    ScramHash::from_mechanism(mech).map(|(h, plus)| HostMech::Scram(h, plus))
}

enum HostMech {
    Scram(ScramHash, bool),
    External,
}

fn bindings(tls: Option<&TlsInfo>) -> ChannelBindings {
    ChannelBindings {
        exporter: tls.and_then(|t| t.exporter.clone()),
        end_point: tls.and_then(|t| t.end_point.as_deref().map(<[u8]>::to_vec)),
    }
}

impl Authenticator {
    /// The configured mechanisms (`sasl_mech_list`, in its order) that work
    /// on this connection: PLAIN and LOGIN always (the guest applies the
    /// layer rules to them); SCRAM only with the password file (saslauthd
    /// and `alwaystrue` have no keys); its -PLUS forms only inside TLS with
    /// a channel binding; EXTERNAL only with a verified client certificate.
    pub fn offered(&self, configured: &[String], tls: Option<&TlsInfo>) -> Vec<String> {
        configured
            .iter()
            .filter(|m| match host_mechanism(m) {
                None => true,
                Some(HostMech::Scram(_, plus)) => {
                    self.method == Method::PasswdFile && (!plus || bindings(tls).any())
                }
                Some(HostMech::External) => tls.is_some_and(|t| t.client_user.is_some()),
            })
            .cloned()
            .collect()
    }

    async fn failed(&self, user: &str, why: impl std::fmt::Display) -> SaslStep {
        tokio::time::sleep(self.failed_login_pause).await;
        SaslStep::Failure {
            user: user.to_string(),
            why: why.to_string(),
        }
    }

    /// Start a host-run exchange for `mech`, which the caller has checked
    /// is offered (`offered` holds this connection's list).
    pub async fn sasl_start(
        &self,
        mech: &str,
        initial: Option<Vec<u8>>,
        tls: Option<&TlsInfo>,
        offered: &[String],
        listener: Option<&str>,
    ) -> (Option<Exchange>, SaslStep) {
        let Some(kind) =
            host_mechanism(mech).filter(|_| offered.iter().any(|m| m.eq_ignore_ascii_case(mech)))
        else {
            return (None, self.failed("", "mechanism not offered").await);
        };
        let exchange = match kind {
            HostMech::Scram(hash, plus) => Exchange::ScramFirst { hash, plus },
            HostMech::External => Exchange::External,
        };
        match initial {
            // rfc4422 3.3: no initial response, an empty challenge first.
            None => (Some(exchange), SaslStep::Challenge(Vec::new())),
            Some(data) => {
                let plus_offered = offered.iter().any(|m| m.ends_with("-PLUS"));
                self.sasl_continue(exchange, data, tls, plus_offered, listener)
                    .await
            }
        }
    }

    /// The client's next message in `exchange`.
    pub async fn sasl_continue(
        &self,
        exchange: Exchange,
        data: Vec<u8>,
        tls: Option<&TlsInfo>,
        plus_offered: bool,
        listener: Option<&str>,
    ) -> (Option<Exchange>, SaslStep) {
        match exchange {
            Exchange::External => {
                let cert_user = tls.and_then(|t| t.client_user.as_deref());
                let authorized = cert_user
                    .and_then(|u| external::authorize(u, &data))
                    .and_then(|u| self.domains.canonical(&u, listener));
                match authorized {
                    Some(user) => (None, SaslStep::Success(user)),
                    None => (
                        None,
                        self.failed(
                            cert_user.unwrap_or(""),
                            "authorization identity differs from the certificate's user",
                        )
                        .await,
                    ),
                }
            }
            Exchange::ScramFirst { hash, plus } => {
                let bindings = bindings(tls);
                let mut first = match scram::client_first(&data, plus, &bindings, plus_offered) {
                    Ok(f) => f,
                    Err(e) => return (None, self.failed("", e).await),
                };
                // The user the keys are looked up for and who logs in: a
                // name that is no user here gets keys nothing matches.
                first.user = self
                    .domains
                    .canonical(&first.user, listener)
                    .unwrap_or_default();
                let keys = match self.scram_keys(&first.user, hash).await {
                    Ok(k) => k,
                    Err(e) => return (None, SaslStep::Unavailable(format!("{e:#}"))),
                };
                let server = ScramServer::new(first, keys, &bindings);
                let challenge = server.server_first().to_vec();
                (
                    Some(Exchange::ScramFinal(Box::new(server))),
                    SaslStep::Challenge(challenge),
                )
            }
            Exchange::ScramFinal(server) => match server.client_final(&data) {
                Ok(server_final) => (
                    Some(Exchange::ScramVerified {
                        user: server.user().to_string(),
                    }),
                    SaslStep::Challenge(server_final),
                ),
                Err(e) => (None, self.failed(server.user(), e).await),
            },
            Exchange::ScramVerified { user } => {
                if data.is_empty() {
                    (None, SaslStep::Success(user))
                } else {
                    (
                        None,
                        self.failed(&user, "data after the server's final message")
                            .await,
                    )
                }
            }
        }
    }

    /// The user's SCRAM keys, or credentials nothing matches for users
    /// without them (the exchange then fails only at the proof).
    async fn scram_keys(&self, user: &str, hash: ScramHash) -> Result<StoredKeys> {
        if !valid_user_name(user) || self.method != Method::PasswdFile {
            return Ok(StoredKeys::unusable(hash, user));
        }
        let (file, name) = (self.passwords.clone(), user.to_string());
        let keys = tokio::task::spawn_blocking(move || file.scram_keys(&name, hash)).await??;
        Ok(keys.unwrap_or_else(|| StoredKeys::unusable(hash, user)))
    }
}

/// A user name that can name a directory under the partition: one path
/// component, no leading dot, no control characters, not too long.
pub fn valid_user_name(user: &str) -> bool {
    !user.is_empty()
        && user.len() <= 255
        && !user.starts_with('.')
        && !user
            .chars()
            .any(|c| c == '/' || c == '\\' || c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names_that_cannot_leave_the_partition() {
        for bad in ["", ".", "..", "../x", "a/b", ".hidden", "a\0b", "a\nb"] {
            assert!(!valid_user_name(bad), "{bad:?} accepted");
        }
        for good in ["alice", "bob@example.org", "j.doe", "x-y_z"] {
            assert!(valid_user_name(good), "{good:?} refused");
        }
    }
}
