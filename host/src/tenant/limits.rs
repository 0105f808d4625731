//! Per-tenant limits (`tenant_*` options): what one domain's sessions may
//! hold and use together in this process, so that one tenant's load
//! reaches its own sessions and not the others'. Sessions and awake
//! instances are counted at login and at hibernation ([`Seat`]); guest
//! memory and CPU time are charged by the engine as the guests run
//! ([`Budget`]); logins are metered before the password check.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::{Config, PerDomain};

/// The `tenant_*` options, for every domain.
#[derive(Debug, Clone, Default)]
pub struct Limits {
    sessions: PerDomain,
    awake: PerDomain,
    memory: PerDomain,
    cpu_share: PerDomain,
    login_rate: PerDomain,
    /// Cores the CPU share is a share of.
    cores: f64,
}

impl Limits {
    pub fn from_config(cfg: &Config) -> Limits {
        Limits {
            sessions: cfg.per_domain("tenant_maxsessions"),
            awake: cfg.per_domain("tenant_maxawake"),
            memory: cfg.per_domain("tenant_memory_limit"),
            cpu_share: cfg.per_domain("tenant_cpu_share"),
            login_rate: cfg.per_domain("tenant_login_rate"),
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()) as f64,
        }
    }

    /// A tenant's limits and counters. `tenants`: whether there is more
    /// than one (`virtdomains`); without, the CPU share does not apply.
    pub(super) fn usage(&self, domain: Option<&str>, tenants: bool) -> Usage {
        let memory_limit = self.memory.get(domain);
        let share = if tenants {
            self.cpu_share.get(domain).min(100)
        } else {
            0
        };
        let cpu = (share > 0).then(|| {
            // Seconds of CPU per second of wall time; a tenant may run a
            // tenth of a second past it before its calls are paused.
            let rate = self.cores * share as f64 / 100.0;
            Mutex::new(Bucket::new(rate, 0.1 * rate.max(0.5)))
        });
        let budget = (memory_limit > 0 || cpu.is_some()).then(|| {
            Arc::new(Budget {
                memory_limit,
                memory: AtomicU64::new(0),
                cpu,
                cpu_used: AtomicU64::new(0),
                cpu_waited: AtomicU64::new(0),
            })
        });
        let rate = self.login_rate.get(domain);
        Usage {
            max_sessions: self.sessions.get(domain),
            max_awake: self.awake.get(domain),
            sessions: AtomicU64::new(0),
            awake: AtomicU64::new(0),
            budget,
            logins: (rate > 0).then(|| Mutex::new(Bucket::new(rate as f64, 2.0 * rate as f64))),
            refused: Default::default(),
            pressure: Arc::new(tokio::sync::Notify::new()),
        }
    }
}

/// A leaky bucket: `level` drains at `rate` per second; whatever is
/// charged fills it.
#[derive(Debug)]
struct Bucket {
    rate: f64,
    capacity: f64,
    level: f64,
    last: Instant,
}

impl Bucket {
    fn new(rate: f64, capacity: f64) -> Bucket {
        Bucket {
            rate,
            capacity,
            level: 0.0,
            last: Instant::now(),
        }
    }

    fn leak(&mut self, now: Instant) {
        let gone = now.saturating_duration_since(self.last).as_secs_f64() * self.rate;
        self.level = (self.level - gone).max(0.0);
        self.last = now;
    }
}

/// One tenant's limits (0: none) and what its sessions hold now.
pub struct Usage {
    pub max_sessions: u64,
    pub max_awake: u64,
    sessions: AtomicU64,
    awake: AtomicU64,
    /// Memory and CPU, charged by the engine; `None` when neither is limited.
    pub budget: Option<Arc<Budget>>,
    logins: Option<Mutex<Bucket>>,
    /// Logins refused, by [`Refusal::label`] in [`Refusal::LABELS`] order.
    refused: [AtomicU64; 4],
    /// Told when a login waits for an awake instance: the tenant's
    /// sessions in IDLE hibernate.
    pub pressure: Arc<tokio::sync::Notify>,
}

/// Why a tenant's login is refused; the text follows `[UNAVAILABLE]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    LoginRate,
    Sessions(u64),
    Awake(u64),
    Memory(u64),
}

impl Refusal {
    /// How the metrics name each kind.
    pub const LABELS: [&str; 4] = ["login_rate", "sessions", "awake", "memory"];

    fn index(&self) -> usize {
        match self {
            Refusal::LoginRate => 0,
            Refusal::Sessions(_) => 1,
            Refusal::Awake(_) => 2,
            Refusal::Memory(_) => 3,
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::LoginRate => write!(f, "too many logins, try again in a moment"),
            Refusal::Sessions(n) => write!(f, "the domain has its {n} sessions"),
            Refusal::Awake(n) => write!(f, "the domain has its {n} active sessions"),
            Refusal::Memory(n) => write!(f, "the domain uses its {} MiB of memory", n >> 20),
        }
    }
}

impl Usage {
    /// A login of this tenant is about to be checked: within the login rate?
    pub fn try_login(&self) -> Result<(), Refusal> {
        let Some(b) = &self.logins else {
            return Ok(());
        };
        let mut b = b.lock().unwrap_or_else(|e| e.into_inner());
        b.leak(Instant::now());
        if b.level + 1.0 > b.capacity {
            return Err(self.refuse(Refusal::LoginRate));
        }
        b.level += 1.0;
        Ok(())
    }

    /// Count a refusal, and return it.
    fn refuse(&self, why: Refusal) -> Refusal {
        self.refused[why.index()].fetch_add(1, Ordering::Relaxed);
        why
    }

    /// Its numbers for the metrics.
    pub fn snapshot(&self) -> crate::ops::metrics::TenantSnapshot {
        let micros = |n: Option<&AtomicU64>| n.map_or(0, |n| n.load(Ordering::Relaxed));
        let cpu = self.budget.as_ref().filter(|b| b.meters_cpu());
        crate::ops::metrics::TenantSnapshot {
            sessions: self.sessions() as i64,
            awake: self.awake() as i64,
            memory: self.memory() as i64,
            cpu_micros: micros(cpu.map(|b| &b.cpu_used)),
            cpu_wait_micros: micros(cpu.map(|b| &b.cpu_waited)),
            refused: Refusal::LABELS
                .iter()
                .zip(&self.refused)
                .map(|(l, n)| (l.to_string(), n.load(Ordering::Relaxed)))
                .collect(),
        }
    }

    pub fn sessions(&self) -> u64 {
        self.sessions.load(Ordering::Relaxed)
    }

    pub fn awake(&self) -> u64 {
        self.awake.load(Ordering::Relaxed)
    }

    /// Guest memory the tenant's instances hold, in bytes.
    pub fn memory(&self) -> u64 {
        self.budget
            .as_ref()
            .map_or(0, |b| b.memory.load(Ordering::Relaxed))
    }
}

/// A logged-in session's place in its tenant's counts; given back on drop.
pub struct Seat {
    tenant: Arc<super::Tenant>,
    awake: bool,
}

impl Seat {
    /// Take a place for a session that logs in now (awake).
    pub fn take(tenant: &Arc<super::Tenant>) -> Result<Seat, Refusal> {
        let u = &tenant.usage;
        if let Some(b) = &u.budget
            && b.memory_limit > 0
            && b.memory.load(Ordering::Relaxed) >= b.memory_limit
        {
            return Err(u.refuse(Refusal::Memory(b.memory_limit)));
        }
        if !take_one(&u.sessions, u.max_sessions) {
            return Err(u.refuse(Refusal::Sessions(u.max_sessions)));
        }
        if !take_one(&u.awake, u.max_awake) {
            u.sessions.fetch_sub(1, Ordering::AcqRel);
            return Err(u.refuse(Refusal::Awake(u.max_awake)));
        }
        Ok(Seat {
            tenant: tenant.clone(),
            awake: true,
        })
    }

    pub fn tenant(&self) -> &Arc<super::Tenant> {
        &self.tenant
    }

    /// The session hibernated (or woke: a wake is never refused, but the
    /// tenant's other sessions in IDLE are asked to make room).
    pub fn set_asleep(&mut self, asleep: bool) {
        if asleep != self.awake {
            // Already so.
            return;
        }
        self.awake = !asleep;
        let u = &self.tenant.usage;
        if asleep {
            u.awake.fetch_sub(1, Ordering::AcqRel);
        } else if u.awake.fetch_add(1, Ordering::AcqRel) >= u.max_awake && u.max_awake > 0 {
            u.pressure.notify_waiters();
        }
    }
}

impl Drop for Seat {
    fn drop(&mut self) {
        let u = &self.tenant.usage;
        u.sessions.fetch_sub(1, Ordering::AcqRel);
        if self.awake {
            u.awake.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// Count one more below `max` (0: no limit).
fn take_one(n: &AtomicU64, max: u64) -> bool {
    n.fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
        (max == 0 || v < max).then_some(v + 1)
    })
    .is_ok()
}

/// What a tenant's guests share, enforced by the engine as they run:
/// linear memory (checked at each growth) and CPU time (charged after each
/// call and at every epoch tick of a long one; calls wait while the tenant
/// is past its share).
#[derive(Debug)]
pub struct Budget {
    memory_limit: u64,
    memory: AtomicU64,
    cpu: Option<Mutex<Bucket>>,
    /// Guest CPU time charged, and time sessions waited for the share
    /// (microseconds, for the metrics).
    cpu_used: AtomicU64,
    cpu_waited: AtomicU64,
}

impl Budget {
    /// A guest asks for `bytes` more: granted if the tenant stays within
    /// its memory limit.
    pub fn try_grow(&self, bytes: u64) -> bool {
        if self.memory_limit == 0 {
            self.memory.fetch_add(bytes, Ordering::AcqRel);
            return true;
        }
        self.memory
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |m| {
                (m + bytes <= self.memory_limit).then_some(m + bytes)
            })
            .is_ok()
    }

    /// An instance that had `bytes` is gone.
    pub fn release(&self, bytes: u64) {
        let _ = self
            .memory
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |m| {
                Some(m.saturating_sub(bytes))
            });
    }

    /// Whether the tenant has a CPU share to keep to.
    pub fn meters_cpu(&self) -> bool {
        self.cpu.is_some()
    }

    /// A guest of the tenant is about to run for at most `slice`: `Ok` with
    /// the CPU time reserved for it (charged now, so that sessions admitted
    /// at the same moment see each other), or `Err` with how long to wait
    /// while the tenant is past its share.
    pub fn cpu_admit(&self, slice: Duration) -> Result<Duration, Duration> {
        let Some(b) = &self.cpu else {
            return Ok(Duration::ZERO);
        };
        let mut b = b.lock().unwrap_or_else(|e| e.into_inner());
        b.leak(Instant::now());
        let slice = slice.as_secs_f64();
        // (A nanosecond's slack: sums of slices are not exact.)
        if b.level > 0.0 && b.level + slice > b.capacity + 1e-9 {
            return Err(Duration::from_secs_f64(
                (b.level + slice - b.capacity) / b.rate,
            ));
        }
        b.level += slice;
        Ok(Duration::from_secs_f64(slice))
    }

    /// A session of the tenant waited `time` for its share.
    pub fn waited(&self, time: Duration) {
        self.cpu_waited
            .fetch_add(time.as_micros() as u64, Ordering::Relaxed);
    }

    /// A guest of the tenant ran for `ran` of CPU time on a reservation of
    /// `reserved`. The tenant's debt is kept below a second of its share,
    /// so that no session waits longer than that.
    pub fn charge_cpu(&self, ran: Duration, reserved: Duration) {
        if let Some(b) = &self.cpu {
            self.cpu_used
                .fetch_add(ran.as_micros() as u64, Ordering::Relaxed);
            let mut b = b.lock().unwrap_or_else(|e| e.into_inner());
            b.leak(Instant::now());
            let level = b.level + ran.as_secs_f64() - reserved.as_secs_f64();
            b.level = level.clamp(0.0, b.capacity + b.rate);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(memory_limit: u64, rate: f64) -> Budget {
        Budget {
            memory_limit,
            memory: AtomicU64::new(0),
            cpu_used: AtomicU64::new(0),
            cpu_waited: AtomicU64::new(0),
            cpu: (rate > 0.0).then(|| Mutex::new(Bucket::new(rate, 0.1))),
        }
    }

    #[test]
    fn memory_is_granted_up_to_the_limit() {
        let b = budget(100, 0.0);
        assert!(b.try_grow(60));
        assert!(!b.try_grow(41));
        assert!(b.try_grow(40));
        b.release(50);
        assert!(b.try_grow(50));
        assert!(!b.try_grow(1));
    }

    #[test]
    fn cpu_past_the_share_waits_for_what_it_overran() {
        let tick = Duration::from_millis(10);
        let b = budget(0, 1.0);
        // A burst of a tenth of a second is admitted (ten slices), not more.
        for _ in 0..10 {
            assert_eq!(b.cpu_admit(tick), Ok(tick));
        }
        assert!(b.cpu_admit(tick).is_err());
        // The slices ran for less than reserved: room again.
        for _ in 0..10 {
            b.charge_cpu(Duration::from_millis(5), tick);
        }
        assert!(b.cpu_admit(tick).is_ok());
        // A long run past its reservation: a wait of about what it overran
        // (0.6 s charged, 0.1 s allowed, at one core).
        b.charge_cpu(Duration::from_millis(545), Duration::ZERO);
        let w = b.cpu_admit(tick).expect_err("over its share");
        assert!(
            w > Duration::from_millis(400) && w <= Duration::from_millis(520),
            "{w:?}"
        );
        // A debt is capped at a second of the share.
        b.charge_cpu(Duration::from_secs(60), Duration::ZERO);
        let w = b.cpu_admit(tick).expect_err("over its share");
        assert!(w <= Duration::from_millis(1011), "{w:?}");
        // No share: always admitted, nothing reserved.
        assert_eq!(budget(0, 0.0).cpu_admit(tick), Ok(Duration::ZERO));
    }

    #[test]
    fn logins_are_metered_with_a_burst_of_two_seconds() {
        let u = Limits {
            login_rate: PerDomain {
                default: 0,
                overrides: vec![("a.test".into(), 3)],
            },
            cores: 2.0,
            ..Default::default()
        };
        let a = u.usage(Some("a.test"), true);
        for _ in 0..6 {
            assert_eq!(a.try_login(), Ok(()));
        }
        assert_eq!(a.try_login(), Err(Refusal::LoginRate));
        let other = u.usage(Some("b.test"), true);
        for _ in 0..100 {
            assert_eq!(other.try_login(), Ok(()));
        }
    }
}
