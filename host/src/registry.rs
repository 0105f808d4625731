//! Who is logged in, across every imapd process of this configdirectory
//! (under master(8) each connection may be its own process), for
//! `maxlogins_per_user` and `maxlogins_per_host`. Like Cyrus's proc
//! registry: one small file per logged-in session under
//! `<configdirectory>/proc/`, removed when the session ends; files of
//! processes that died without cleaning up are ignored and removed.

use std::io::Read;
use std::sync::{Arc, OnceLock};

use anyhow::{Context, Result};
use cap_std::fs::Dir;

const DIR: &str = "proc";

/// A process's way into the registry: `proc/`, opened once and shared by
/// every entry (a descriptor per session would count against the open
/// files limit as much as the connections do).
#[derive(Default)]
pub struct Registry {
    proc: OnceLock<Arc<Dir>>,
}

/// A logged-in session's entry; removed on drop.
pub struct LoginRecord {
    dir: Arc<Dir>,
    name: String,
}

impl Drop for LoginRecord {
    fn drop(&mut self) {
        let _ = self.dir.remove_file(&self.name);
    }
}

/// Sessions currently logged in from `host` and as `user`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub host: u32,
    pub user: u32,
}

fn process_alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    pid > 0
        && (unsafe { libc::kill(pid, 0) } == 0
            || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM))
}

/// Count the live sessions of `user` and from `host`.
pub fn count(config_dir: &Dir, user: &str, host: &str) -> Result<Counts> {
    let mut counts = Counts::default();
    let entries = match config_dir.read_dir(DIR) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(counts),
        Err(e) => return Err(e).context("reading the proc registry"),
    };
    let dir = config_dir.open_dir(DIR)?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let pid: i32 = name
            .split('.')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        if !process_alive(pid) {
            let _ = dir.remove_file(&name);
            continue;
        }
        let mut text = String::new();
        if let Ok(mut f) = dir.open(&name) {
            let _ = f.read_to_string(&mut text);
        }
        let mut fields = text.trim_end().split('\t');
        let (u, h) = (fields.next().unwrap_or(""), fields.next().unwrap_or(""));
        if u == user {
            counts.user += 1;
        }
        if h == host {
            counts.host += 1;
        }
    }
    Ok(counts)
}

impl Registry {
    /// `proc/` under `config_dir`, created and opened the first time.
    fn proc_dir(&self, config_dir: &Dir) -> Result<Arc<Dir>> {
        if let Some(d) = self.proc.get() {
            return Ok(d.clone());
        }
        config_dir
            .create_dir_all(DIR)
            .context("creating the proc registry")?;
        let d = Arc::new(
            config_dir
                .open_dir(DIR)
                .context("opening the proc registry")?,
        );
        Ok(self.proc.get_or_init(|| d).clone())
    }

    /// Record a logged-in session; `serial` makes the name unique within
    /// the process.
    pub fn register(
        &self,
        config_dir: &Dir,
        serial: u64,
        user: &str,
        host: &str,
    ) -> Result<LoginRecord> {
        let dir = self.proc_dir(config_dir)?;
        let name = format!("{}.{serial}", std::process::id());
        dir.write(&name, format!("{user}\t{host}\n"))
            .context("writing the proc registry")?;
        Ok(LoginRecord { dir, name })
    }
}

/// The host part of a peer address (`1.2.3.4:5678`, `[::1]:5678`).
pub fn peer_host(peer: &str) -> &str {
    if let Some(rest) = peer.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match peer.rsplit_once(':') {
        Some((h, _)) => h,
        None => peer,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_counts_live_sessions_and_forgets_ended_ones() {
        let tmp = tempfile_dir();
        let dir = Dir::open_ambient_dir(&tmp, cap_std::ambient_authority()).unwrap();
        assert_eq!(count(&dir, "alice", "10.0.0.1").unwrap(), Counts::default());
        let reg = Registry::default();
        let a = reg.register(&dir, 1, "alice", "10.0.0.1").unwrap();
        let _b = reg.register(&dir, 2, "bob", "10.0.0.1").unwrap();
        assert_eq!(
            count(&dir, "alice", "10.0.0.1").unwrap(),
            Counts { host: 2, user: 1 }
        );
        drop(a);
        assert_eq!(
            count(&dir, "alice", "10.0.0.1").unwrap(),
            Counts { host: 1, user: 0 }
        );
        // An entry left by a dead process is ignored (and cleaned up).
        dir.write("proc/999999999.1", "alice\t10.0.0.1\n").unwrap();
        assert_eq!(
            count(&dir, "alice", "10.0.0.1").unwrap(),
            Counts { host: 1, user: 0 }
        );
        assert!(!dir.exists("proc/999999999.1"));
        std::fs::remove_dir_all(tmp).unwrap();
    }

    #[test]
    fn peer_hosts() {
        assert_eq!(peer_host("127.0.0.1:143"), "127.0.0.1");
        assert_eq!(peer_host("[::1]:143"), "::1");
        assert_eq!(peer_host("stdin"), "stdin");
    }

    fn tempfile_dir() -> std::path::PathBuf {
        let p = std::env::temp_dir().join(format!(
            "imapd-registry-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&p).unwrap();
        p
    }
}
