//! Socket details the protocol code never sees: socket options and peer names.

use std::os::fd::{AsRawFd, RawFd};

/// Options for every accepted client socket:
/// - TCP keepalive on, so dead peers and NAT timeouts are noticed even
///   when a client sits in IDLE for hours (Cyrus does the same);
/// - TCP_NODELAY: a response goes out when written. With Nagle's algorithm
///   a reply written after a small one (a literal's `+` continuation, a
///   tagged OK after untagged data) waits for the client's delayed ACK,
///   40 ms per command on Linux.
pub fn prepare_client_socket(sock: &impl AsRawFd) {
    let one: libc::c_int = 1;
    for (level, option) in [
        (libc::SOL_SOCKET, libc::SO_KEEPALIVE),
        (libc::IPPROTO_TCP, libc::TCP_NODELAY),
    ] {
        // SAFETY: setsockopt with a valid fd and a pointer to a c_int. On
        // a socket that is not TCP (a UNIX socket from master) it fails
        // harmlessly.
        unsafe {
            libc::setsockopt(
                sock.as_raw_fd(),
                level,
                option,
                (&one as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }
}

/// The peer address of a socket descriptor, or None if it is not a socket.
pub fn peer_name(fd: RawFd) -> Option<String> {
    socket_name(fd, libc::getpeername)
}

/// The local address of a socket descriptor (which listener a client
/// reached), or None if it is not an IP socket.
pub fn local_addr(fd: RawFd) -> Option<std::net::SocketAddr> {
    socket_name(fd, libc::getsockname)?.parse().ok()
}

type NameCall =
    unsafe extern "C" fn(libc::c_int, *mut libc::sockaddr, *mut libc::socklen_t) -> libc::c_int;

/// One end of a socket (`getpeername` or `getsockname`), as `ip:port`,
/// `[ip6]:port` or `unix`.
fn socket_name(fd: RawFd, call: NameCall) -> Option<String> {
    // SAFETY: getpeername/getsockname write at most `len` bytes into `addr`.
    let mut addr: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    let r = unsafe {
        call(
            fd,
            (&mut addr as *mut libc::sockaddr_storage).cast(),
            &mut len,
        )
    };
    if r != 0 {
        return None;
    }
    match addr.ss_family as libc::c_int {
        libc::AF_INET => {
            // SAFETY: the family says this is a sockaddr_in.
            let a: &libc::sockaddr_in =
                unsafe { &*(&addr as *const libc::sockaddr_storage).cast() };
            let ip = std::net::Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
            Some(format!("{ip}:{}", u16::from_be(a.sin_port)))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says this is a sockaddr_in6.
            let a: &libc::sockaddr_in6 =
                unsafe { &*(&addr as *const libc::sockaddr_storage).cast() };
            let ip = std::net::Ipv6Addr::from(a.sin6_addr.s6_addr);
            Some(format!("[{ip}]:{}", u16::from_be(a.sin6_port)))
        }
        libc::AF_UNIX => Some("unix".into()),
        _ => None,
    }
}

/// The client as Cyrus's log lines name it (imap/global.c
/// `get_clienthost()`): `<name> [<ip>]` when the address has a name in
/// the resolver (a reverse lookup), `[<ip>]` when it has none, and the
/// peer text itself when it is no address (a unix socket, stdin).
/// Blocking: see [`client_host_soon`].
pub fn client_host(peer: &str) -> String {
    let host = crate::registry::peer_host(peer);
    let Ok(ip) = host.parse::<std::net::IpAddr>() else {
        return peer.to_string();
    };
    match reverse_name(ip) {
        Some(name) => format!("{name} [{ip}]"),
        None => format!("[{ip}]"),
    }
}

/// [`client_host`] on the blocking pool, given at most two seconds: a slow
/// resolver delays no session, it only leaves the name out.
pub async fn client_host_soon(peer: String) -> String {
    let fallback = client_without_name(&peer);
    let lookup = tokio::task::spawn_blocking(move || client_host(&peer));
    match tokio::time::timeout(std::time::Duration::from_secs(2), lookup).await {
        Ok(Ok(name)) => name,
        _ => fallback,
    }
}

/// [`client_host`] without the lookup: `[<ip>]`.
pub fn client_without_name(peer: &str) -> String {
    match crate::registry::peer_host(peer).parse::<std::net::IpAddr>() {
        Ok(ip) => format!("[{ip}]"),
        Err(_) => peer.to_string(),
    }
}

/// getnameinfo(NI_NAMEREQD): the name the resolver gives `ip`, if any.
fn reverse_name(ip: std::net::IpAddr) -> Option<String> {
    // SAFETY: the sockaddr is built in a zeroed sockaddr_storage of the
    // size passed; getnameinfo writes at most `host.len()` bytes.
    unsafe {
        let mut ss: libc::sockaddr_storage = std::mem::zeroed();
        let len = match ip {
            std::net::IpAddr::V4(v4) => {
                let sa = &mut *(&mut ss as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in>();
                sa.sin_family = libc::AF_INET as libc::sa_family_t;
                sa.sin_addr.s_addr = u32::from(v4).to_be();
                std::mem::size_of::<libc::sockaddr_in>()
            }
            std::net::IpAddr::V6(v6) => {
                let sa =
                    &mut *(&mut ss as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in6>();
                sa.sin6_family = libc::AF_INET6 as libc::sa_family_t;
                sa.sin6_addr.s6_addr = v6.octets();
                std::mem::size_of::<libc::sockaddr_in6>()
            }
        };
        let mut host = [0 as libc::c_char; 1025];
        let r = libc::getnameinfo(
            (&ss as *const libc::sockaddr_storage).cast(),
            len as libc::socklen_t,
            host.as_mut_ptr(),
            host.len() as libc::socklen_t,
            std::ptr::null_mut(),
            0,
            libc::NI_NAMEREQD,
        );
        if r != 0 {
            return None;
        }
        let name = std::ffi::CStr::from_ptr(host.as_ptr()).to_string_lossy();
        // A name with spaces or brackets would confuse log parsers.
        (!name.is_empty() && !name.contains([' ', '[', ']'])).then(|| name.into_owned())
    }
}

/// CPU time of the calling thread so far: (user, system).
/// The calling thread's CPU time, to the nanosecond (the scheduler's own
/// count, brought up to date: getrusage's moves at scheduler ticks).
pub fn thread_cpu_now() -> std::time::Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    std::time::Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

pub fn thread_cpu() -> (std::time::Duration, std::time::Duration) {
    // SAFETY: getrusage writes one struct rusage we own.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_THREAD, &mut ru);
        ru
    };
    let d = |tv: libc::timeval| {
        std::time::Duration::from_secs(tv.tv_sec as u64)
            + std::time::Duration::from_micros(tv.tv_usec as u64)
    };
    (d(ru.ru_utime), d(ru.ru_stime))
}

#[cfg(test)]
mod client_host_tests {
    use super::*;

    #[test]
    fn client_hosts_are_cyrus_shaped() {
        let local = client_host("127.0.0.1:1234");
        assert!(
            local.ends_with(" [127.0.0.1]") || local == "[127.0.0.1]",
            "{local}"
        );
        assert_eq!(client_host("unix"), "unix");
    }
}
