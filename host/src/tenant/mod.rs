//! Tenants: Cyrus's virtual domains (`virtdomains`). A login name becomes
//! a canonical user (`alice`, or `alice@example.com` for a domain other
//! than `defaultdomain`); each domain is a [`Tenant`] with its own part of
//! the partition (`domain/<domain>/<user>/`), its own quota roots and
//! share index (`<configdirectory>/domain/<domain>/`), and the limits its
//! sessions share ([`limits`]). A guest sees only its user's domain: the
//! host gives it the user's name without the domain, and every name it
//! passes back (owners, quota roots, admin targets) is read within that
//! domain.

pub mod limits;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use cap_std::fs::Dir;

/// `virtdomains`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Off,
    Userid,
    On,
}

/// The directory under the partition (and under `configdirectory`) that
/// holds the domains' trees. With virtual domains on, no default-domain
/// user may have this name.
pub const DOMAIN_DIR: &str = "domain";

/// A domain name as the host accepts it (already lowercased): labels of
/// letters, digits and `-`, separated by single dots.
pub fn valid_domain(d: &str) -> bool {
    !d.is_empty()
        && d.len() <= 253
        && d.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

/// A local address of `virtdomain_addresses`: an IP (any port) or one
/// listener's IP and port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    Ip(IpAddr),
    Socket(SocketAddr),
}

impl Address {
    /// `<address>=<domain>`.
    pub fn parse_entry(entry: &str) -> Result<(Address, String), String> {
        let (addr, domain) = entry
            .rsplit_once('=')
            .ok_or_else(|| format!("'{entry}' is not <address>=<domain>"))?;
        let address = if let Ok(s) = addr.parse::<SocketAddr>() {
            Address::Socket(s)
        } else if let Ok(ip) = addr.trim_matches(['[', ']']).parse::<IpAddr>() {
            Address::Ip(ip)
        } else {
            return Err(format!(
                "'{addr}' is not an IP address (with or without a port)"
            ));
        };
        let domain = domain.to_ascii_lowercase();
        if !valid_domain(&domain) {
            return Err(format!("'{domain}' is not a domain name"));
        }
        Ok((address, domain))
    }

    fn matches(&self, local: SocketAddr) -> bool {
        match self {
            Address::Socket(s) => *s == local,
            Address::Ip(ip) => *ip == local.ip().to_canonical(),
        }
    }
}

/// How login names map to users and domains.
#[derive(Debug, Clone)]
pub struct Domains {
    pub mode: Mode,
    /// `defaultdomain`, lowercased.
    pub default: Option<String>,
    /// `virtdomain_addresses` (used with [`Mode::On`]).
    pub addresses: Vec<(Address, String)>,
}

impl Domains {
    pub fn off() -> Domains {
        Domains {
            mode: Mode::Off,
            default: None,
            addresses: Vec::new(),
        }
    }

    /// `virtdomains`, `defaultdomain` and `virtdomain_addresses`.
    pub fn from_config(cfg: &crate::config::Config) -> anyhow::Result<Domains> {
        Ok(Domains {
            mode: cfg.virtdomains(),
            default: cfg.defaultdomain()?,
            addresses: cfg.virtdomain_addresses()?,
        })
    }

    pub fn enabled(&self) -> bool {
        self.mode != Mode::Off
    }

    /// With `virtdomains: on`, the domain of logins without one made on a
    /// connection to `local`: an entry for the listener (address and
    /// port) first, then for its address.
    pub fn for_listener(&self, local: Option<SocketAddr>) -> Option<String> {
        let local = local.filter(|_| self.mode == Mode::On)?;
        let local = SocketAddr::new(local.ip().to_canonical(), local.port());
        let exact = self
            .addresses
            .iter()
            .find(|(a, _)| matches!(a, Address::Socket(_)) && a.matches(local));
        exact
            .or_else(|| self.addresses.iter().find(|(a, _)| a.matches(local)))
            .map(|(_, d)| d.clone())
    }

    /// A login name as the client gave it, on a connection whose listener
    /// gives `listener` as its domain: the canonical user (`alice`, or
    /// `alice@example.com`), or `None` if it cannot name a user here.
    /// With `virtdomains: off` names are kept as they are (the caller
    /// checks them as login names).
    pub fn canonical(&self, login: &str, listener: Option<&str>) -> Option<String> {
        if self.mode == Mode::Off {
            return Some(login.to_string());
        }
        let (local, domain) = match login.rfind(['@', '%']) {
            Some(i) => {
                let domain = login[i + 1..].to_ascii_lowercase();
                if !valid_domain(&domain) {
                    return None;
                }
                (&login[..i], Some(domain))
            }
            None => (
                login,
                listener
                    .filter(|_| self.mode == Mode::On)
                    .map(str::to_string),
            ),
        };
        if local.contains(['@', '%']) || !crate::auth::valid_user_name(local) {
            return None;
        }
        let domain = domain.filter(|d| Some(d) != self.default.as_ref());
        match domain {
            Some(d) => Some(format!("{local}@{d}")),
            None if local == DOMAIN_DIR => None,
            None => Some(local.to_string()),
        }
    }

    /// A canonical user: its name within its domain, and the domain
    /// (`None`: the default domain).
    pub fn split<'a>(&self, user: &'a str) -> (&'a str, Option<&'a str>) {
        match user.rsplit_once('@') {
            Some((local, domain)) if self.enabled() => (local, Some(domain)),
            _ => (user, None),
        }
    }
}

/// One domain's place on disk, and what its sessions share.
pub struct Tenant {
    /// `None`: the default domain (and every user with `virtdomains: off`).
    pub domain: Option<String>,
    /// Where its users' trees are: the partition, or
    /// `<partition>/domain/<domain>/`.
    pub partition: Dir,
    /// Where its quota roots and share index are: `configdirectory`, or
    /// `<configdirectory>/domain/<domain>/`.
    pub config_dir: PathBuf,
    /// Its limits and what its sessions use now.
    pub usage: limits::Usage,
}

impl Tenant {
    /// How log lines and `imapd status` name it.
    pub fn name(&self) -> &str {
        self.domain.as_deref().unwrap_or("-")
    }
}

/// Every tenant this process has served, made at its first login.
pub struct Tenants {
    pub domains: Domains,
    limits: limits::Limits,
    partition: Dir,
    config_dir: PathBuf,
    default: Arc<Tenant>,
    others: Mutex<HashMap<String, Arc<Tenant>>>,
}

impl Tenants {
    pub fn new(
        domains: Domains,
        limits: limits::Limits,
        partition: &Dir,
        config_dir: &Path,
    ) -> Result<Tenants> {
        let default = Arc::new(Tenant {
            domain: None,
            partition: partition.try_clone()?,
            config_dir: config_dir.to_path_buf(),
            usage: limits.usage(None, domains.enabled()),
        });
        Ok(Tenants {
            domains,
            limits,
            partition: partition.try_clone()?,
            config_dir: config_dir.to_path_buf(),
            default,
            others: Mutex::new(HashMap::new()),
        })
    }

    /// The tenant of a canonical user, and the user's name within it.
    pub fn of_user(&self, user: &str) -> Result<(Arc<Tenant>, String)> {
        let (local, domain) = self.domains.split(user);
        Ok((self.get(domain)?, local.to_string()))
    }

    /// The tenant of `domain` (`None`: the default one); its directories
    /// are made the first time.
    pub fn get(&self, domain: Option<&str>) -> Result<Arc<Tenant>> {
        let Some(domain) = domain else {
            return Ok(self.default.clone());
        };
        anyhow::ensure!(valid_domain(domain), "{domain:?} is not a domain name");
        let mut others = self.others.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(t) = others.get(domain) {
            return Ok(t.clone());
        }
        let rel = format!("{DOMAIN_DIR}/{domain}");
        self.partition
            .create_dir_all(&rel)
            .with_context(|| format!("creating the partition's {rel}"))?;
        let partition = self
            .partition
            .open_dir(&rel)
            .with_context(|| format!("opening the partition's {rel}"))?;
        let config_dir = self.config_dir.join(DOMAIN_DIR).join(domain);
        std::fs::create_dir_all(&config_dir)
            .with_context(|| format!("creating {}", config_dir.display()))?;
        let t = Arc::new(Tenant {
            domain: Some(domain.to_string()),
            partition,
            config_dir,
            usage: self.limits.usage(Some(domain), true),
        });
        others.insert(domain.to_string(), t.clone());
        Ok(t)
    }

    /// Each tenant's numbers for the metrics, by name (none without
    /// `virtdomains`: there is one tenant).
    pub fn snapshot(
        &self,
    ) -> std::collections::BTreeMap<String, crate::ops::metrics::TenantSnapshot> {
        if !self.domains.enabled() {
            return Default::default();
        }
        self.all()
            .iter()
            .map(|t| (t.name().to_string(), t.usage.snapshot()))
            .collect()
    }

    /// The tenants made so far (the default one first).
    pub fn all(&self) -> Vec<Arc<Tenant>> {
        let mut all = vec![self.default.clone()];
        let others = self.others.lock().unwrap_or_else(|e| e.into_inner());
        all.extend(others.values().cloned());
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn domains(mode: Mode, default: Option<&str>) -> Domains {
        Domains {
            mode,
            default: default.map(str::to_string),
            addresses: vec![
                Address::parse_entry("127.0.0.2=b.test").unwrap(),
                Address::parse_entry("127.0.0.3:993=c.test").unwrap(),
                Address::parse_entry("127.0.0.3=d.test").unwrap(),
            ],
        }
    }

    #[test]
    fn login_names_become_users_of_a_domain() {
        let d = domains(Mode::Userid, Some("a.test"));
        let c = |n: &str| d.canonical(n, None);
        assert_eq!(c("alice").as_deref(), Some("alice"));
        assert_eq!(c("alice@a.test").as_deref(), Some("alice"));
        assert_eq!(c("alice@A.Test").as_deref(), Some("alice"));
        assert_eq!(c("alice%b.test").as_deref(), Some("alice@b.test"));
        assert_eq!(c("alice@B.TEST").as_deref(), Some("alice@b.test"));
        for bad in [
            "alice@",
            "@b.test",
            "a@b@c.test",
            "alice@b..test",
            "alice@../x",
            "alice@b/test",
            "domain",
            "domain@a.test",
            "../x@b.test",
            ".x@b.test",
        ] {
            assert_eq!(c(bad), None, "{bad}");
        }
        // A user named `domain` in another domain is fine: its tree is
        // `domain/<d>/domain`.
        assert_eq!(c("domain@b.test").as_deref(), Some("domain@b.test"));
        assert_eq!(d.split("alice@b.test"), ("alice", Some("b.test")));
        assert_eq!(d.split("alice"), ("alice", None));
    }

    #[test]
    fn virtdomains_off_keeps_names_as_given() {
        let d = domains(Mode::Off, Some("a.test"));
        assert_eq!(
            d.canonical("alice@b.test", None).as_deref(),
            Some("alice@b.test")
        );
        assert_eq!(d.canonical("domain", None).as_deref(), Some("domain"));
        assert_eq!(d.split("alice@b.test"), ("alice@b.test", None));
    }

    #[test]
    fn on_takes_the_domain_of_the_listener() {
        let d = domains(Mode::On, Some("a.test"));
        let at = |a: &str| d.for_listener(Some(a.parse().unwrap()));
        assert_eq!(at("127.0.0.2:143").as_deref(), Some("b.test"));
        assert_eq!(at("127.0.0.3:993").as_deref(), Some("c.test"));
        assert_eq!(at("127.0.0.3:143").as_deref(), Some("d.test"));
        assert_eq!(at("[::ffff:127.0.0.2]:143").as_deref(), Some("b.test"));
        assert_eq!(at("127.0.0.9:143"), None);
        let l = at("127.0.0.2:143");
        assert_eq!(
            d.canonical("alice", l.as_deref()).as_deref(),
            Some("alice@b.test")
        );
        // A domain in the name wins over the listener's.
        assert_eq!(
            d.canonical("alice@c.test", l.as_deref()).as_deref(),
            Some("alice@c.test")
        );
        // userid mode ignores listeners.
        let u = domains(Mode::Userid, None);
        assert_eq!(u.for_listener(Some("127.0.0.2:143".parse().unwrap())), None);
        assert_eq!(
            u.canonical("alice", Some("b.test")).as_deref(),
            Some("alice")
        );
    }

    #[test]
    fn address_entries_are_checked() {
        assert!(Address::parse_entry("127.0.0.1").is_err());
        assert!(Address::parse_entry("localhost=a.test").is_err());
        assert!(Address::parse_entry("127.0.0.1=a..test").is_err());
        assert_eq!(
            Address::parse_entry("[::1]=A.test").unwrap(),
            (Address::Ip("::1".parse().unwrap()), "a.test".into())
        );
    }
}
