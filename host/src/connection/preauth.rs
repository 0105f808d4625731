//! `maxpreauth_per_host`: how many connections one client address may
//! hold before logging in. A connection takes a guest instance from the
//! pool (`max_sessions`) as soon as it is greeted, so without this cap one
//! address could fill the pool with sessions that never log in and keep
//! every other user out until `login_timeout` ends them. Counted per
//! process: in standalone mode that is every connection; under master(8)
//! each process serves one connection at a time, and master's `maxchild`
//! is the bound there.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

/// The connections not yet logged in, by client address.
#[derive(Default)]
pub struct PreauthSlots {
    counts: Arc<Mutex<HashMap<IpAddr, u32>>>,
}

/// Log a refused connection: one line a second at most, so a flood from
/// one address cannot flood the log too; the line says how many were
/// refused since the last one.
pub fn log_refused(ip: IpAddr, limit: u32) {
    static LAST: AtomicU64 = AtomicU64::new(0);
    static SINCE: AtomicU64 = AtomicU64::new(0);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let n = SINCE.fetch_add(1, Ordering::Relaxed) + 1;
    if LAST.swap(now, Ordering::Relaxed) == now {
        return;
    }
    SINCE.fetch_sub(n, Ordering::Relaxed);
    crate::syslog!(
        Notice,
        "refused a connection from [{ip}]: {limit} from there waiting to log in \
         (maxpreauth_per_host); {n} refused since the last such line"
    );
}

/// One connection's place in its address's count, given back when the
/// connection logs in or ends.
pub struct PreauthSlot {
    counts: Arc<Mutex<HashMap<IpAddr, u32>>>,
    ip: IpAddr,
}

impl PreauthSlots {
    /// A place for a new connection from `ip`, or `None` when `limit`
    /// connections from it are already waiting to log in.
    pub fn claim(&self, ip: IpAddr, limit: u32) -> Option<PreauthSlot> {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let n = counts.entry(ip).or_insert(0);
        if *n >= limit {
            return None;
        }
        *n += 1;
        Some(PreauthSlot {
            counts: self.counts.clone(),
            ip,
        })
    }

    /// Connections from `ip` not yet logged in.
    #[cfg(test)]
    fn held(&self, ip: IpAddr) -> u32 {
        let counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        counts.get(&ip).copied().unwrap_or(0)
    }
}

impl Drop for PreauthSlot {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = counts.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                // The map holds only addresses with connections waiting.
                counts.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_gets_its_limit_and_slots_come_back() {
        let slots = PreauthSlots::default();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "2001:db8::1".parse().unwrap();
        let first = slots.claim(a, 2).unwrap();
        let _second = slots.claim(a, 2).unwrap();
        assert!(slots.claim(a, 2).is_none(), "a third from the same address");
        let _other = slots.claim(b, 2).expect("another address is not affected");
        drop(first);
        assert_eq!(slots.held(a), 1);
        let _again = slots.claim(a, 2).expect("a slot given back is free");
        assert!(slots.claim(a, 2).is_none());
        drop(_again);
        drop(_second);
        assert_eq!(slots.held(a), 0);
        assert!(slots.counts.lock().unwrap().get(&a).is_none());
    }
}
