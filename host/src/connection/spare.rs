//! Spare pre-auth sessions, made ahead of their connections: instantiated,
//! constructed and greeted while the server waits, so that a new plain
//! connection's greeting is a write, not an instantiation. [`SPARES`] are
//! kept ready; a connection that takes one has them topped up, one at a
//! time, in the background.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::Result;

use super::ConnHost;
use crate::engine::{GuestSession, Step};
use crate::server::Server;

/// How many are kept ready: two, so that a connection that follows
/// another closely (within the making of one) still finds one.
pub const SPARES: usize = 2;

/// Below this many pool slots (`max_sessions`) none are kept: a small
/// pool's slots are the clients'.
const MIN_POOL: u32 = 16;

/// A pre-auth session waiting for a plain connection.
pub struct Spare {
    pub session: GuestSession<ConnHost>,
    pub greeting: Step,
    pub session_id: String,
    /// `msg/motd` when it was greeted: its greeting holds it.
    motd: Option<String>,
}

/// The spares of a server, oldest first, and whether they are being made.
#[derive(Default)]
pub struct Spares {
    ready: Mutex<VecDeque<Spare>>,
    making: AtomicBool,
}

impl Spares {
    fn ready_list(&self) -> MutexGuard<'_, VecDeque<Spare>> {
        self.ready.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A spare, if there is one that a plain connection may have now: on
    /// the current module, greeted with the motd of now. Stale ones (all
    /// are, then) are dropped.
    pub fn take(&self, server: &Server) -> Option<Spare> {
        let spare = self.ready_list().pop_front()?;
        let fresh = !spare.session.on_old_module(&server.engine)
            && spare.motd == server.message_file("motd");
        if !fresh {
            drop(spare);
            self.clear();
            return None;
        }
        Some(spare)
    }

    /// How many are ready.
    pub fn ready(&self) -> usize {
        self.ready_list().len()
    }

    /// Drop the spares (a new module is installed: they would hold the
    /// old one).
    pub fn clear(&self) {
        let stale = std::mem::take(&mut *self.ready_list());
        drop(stale);
    }

    /// Have spares made in the background up to [`SPARES`], unless they
    /// are being made already; none while the pool is small or nearly
    /// full.
    pub fn replenish(server: &Arc<Server>) {
        let spares = &server.spares;
        if !room(server) || spares.ready() >= SPARES || spares.making.swap(true, Ordering::AcqRel) {
            return;
        }
        let server = server.clone();
        tokio::spawn(async move {
            let spares = &server.spares;
            loop {
                let mut failed = false;
                while !failed && spares.ready() < SPARES && room(&server) {
                    match make(&server).await {
                        // (A module installed meanwhile: it would hold
                        // the old one.)
                        Ok(spare) if !spare.session.on_old_module(&server.engine) => {
                            spares.ready_list().push_back(spare);
                        }
                        Ok(_) => failed = true,
                        Err(e) => {
                            crate::syslog!(Info, "no spare session: {e:#}");
                            failed = true;
                        }
                    }
                }
                spares.making.store(false, Ordering::Release);
                // A spare taken since the last look found `making` set.
                if failed
                    || spares.ready() >= SPARES
                    || !room(&server)
                    || spares.making.swap(true, Ordering::AcqRel)
                {
                    break;
                }
            }
        });
    }
}

/// Whether the pool has room for a spare.
fn room(server: &Server) -> bool {
    let max = server.engine.max_sessions();
    max >= MIN_POOL && server.engine.live_instances() + 2 <= u64::from(max)
}

async fn make(server: &Arc<Server>) -> Result<Spare> {
    let session_id = server.new_session_id();
    let settings = server.settings(&session_id, None);
    let motd = settings.motd.clone();
    let host = ConnHost::trial(server.clone());
    let module = server.engine.current();
    let (mut session, greeting) = server.engine.start_on(module, host, &settings).await?;
    session.set_spare();
    crate::ops::metrics::metrics().spare_made();
    Ok(Spare {
        session,
        greeting,
        session_id,
        motd,
    })
}
