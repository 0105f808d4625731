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
    // SAFETY: getpeername writes at most `len` bytes into `addr`.
    let mut addr: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    let r = unsafe {
        libc::getpeername(
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
