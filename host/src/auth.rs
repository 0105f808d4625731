//! Password checks, done by the host for the guest's LOGIN and
//! AUTHENTICATE: the password file, saslauthd or `alwaystrue`
//! (`sasl_pwcheck_method`), `-N`, and the `failedloginpause` that a wrong
//! password costs the client (a sleep of that session only).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;

use crate::passwd::PasswordFile;

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
}

impl Authenticator {
    /// Check one login. Runs the (CPU-heavy or blocking) check off the
    /// async threads, and sleeps `failedloginpause` after a failure
    /// without holding anything another session needs.
    pub async fn check(&self, mech: &str, authzid: &str, user: &str, password: &str) -> Verdict {
        // rfc4616 2: authzid empty or equal to the user; we have no proxy
        // authorisation, so anything else fails like a wrong password.
        let verdict = if (!authzid.is_empty() && authzid != user) || !valid_user_name(user) {
            Verdict::BadCredentials
        } else if self.no_password_for_login && mech.eq_ignore_ascii_case("LOGIN") {
            Verdict::Ok(user.to_string())
        } else {
            let r = self.verify_blocking(user, password).await;
            match r {
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
