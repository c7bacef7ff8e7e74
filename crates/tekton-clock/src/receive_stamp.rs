//! When the kernel received a socket's bytes (`SO_TIMESTAMPNS`), on `monotonic_ns`'s clock: the
//! moment the data reached the socket, not the moment a busy thread got round to reading it. A
//! latency benchmark reading thousands of sockets needs the first; a plain read gives the second.

use std::io;
use std::mem::{size_of, MaybeUninit};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::OnceLock;

use crate::monotonic::{clock_ns, monotonic_ns, timespec_ns};

/// Asks the kernel to stamp every segment `fd` receives.
///
/// Linux turns receive stamping on system-wide while any socket wants it, and switches it on and
/// off in a deferred work item (patching code on every CPU): the first segments after the first
/// socket asks arrive unstamped, and a process whose stamped sockets come and go would toggle it
/// each time. So the first call also leaves one stamped socket open for the process's life.
pub fn enable(fd: RawFd) -> io::Result<()> {
    static KEEP_STAMPING_ON: OnceLock<Option<OwnedFd>> = OnceLock::new();
    KEEP_STAMPING_ON.get_or_init(|| {
        // SAFETY: plain syscall; a non-negative result is a new descriptor we own.
        let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
        if raw < 0 {
            return None;
        }
        // SAFETY: `raw` was just created and is owned by nobody else.
        let keeper = unsafe { OwnedFd::from_raw_fd(raw) };
        set_stamping(keeper.as_raw_fd()).ok().map(|()| keeper)
    });
    set_stamping(fd)
}

fn set_stamping(fd: RawFd) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: a valid option value of the size we pass; a bad fd is reported as an error.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            (&on as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// One non-blocking read into `buf`: how many bytes, and when the kernel received them (the last
/// segment the read took, on `monotonic_ns`'s clock; `None` if the socket was not stamped).
/// `WouldBlock` when nothing is ready.
pub fn recv(fd: RawFd, buf: &mut [u8]) -> io::Result<(usize, Option<u64>)> {
    // Room for one cmsghdr carrying a timespec, aligned as cmsghdr requires.
    let mut control = [MaybeUninit::<u64>::uninit(); 8];
    let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
    // SAFETY: an all-zero msghdr is valid (no name, no buffers); we fill in ours below.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = size_of::<[u64; 8]>() as _;
    // SAFETY: `msg` points at live buffers of the lengths it states.
    let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_DONTWAIT) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut stamp = None;
    // SAFETY: walking the control buffer the kernel filled, with the libc helpers made for it.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_TIMESTAMPNS {
                let ts = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::timespec>());
                stamp = Some(on_monotonic(timespec_ns(&ts)));
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    Ok((usize::try_from(n).unwrap_or(0), stamp))
}

/// A CLOCK_REALTIME instant (the clock socket stamps are on) moved to CLOCK_MONOTONIC: now on the
/// monotonic clock minus how long ago it was. Never later than now.
fn on_monotonic(realtime_ns: u64) -> u64 {
    let (real_now, mono_now) = (clock_ns(libc::CLOCK_REALTIME), monotonic_ns());
    mono_now.saturating_sub(real_now.saturating_sub(realtime_ns))
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::os::fd::AsRawFd;

    #[test]
    fn a_stamped_read_says_when_the_bytes_arrived() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        server.set_nonblocking(true).unwrap();
        super::enable(server.as_raw_fd()).unwrap();
        let mut buf = [0u8; 16];
        // The kernel switches stamping on in a deferred work item: until it has, reads are
        // unstamped (and say so with None).
        let mut switched_on = false;
        for _ in 0..500 {
            client.write_all(b"x").unwrap();
            std::thread::sleep(std::time::Duration::from_millis(2));
            if super::recv(server.as_raw_fd(), &mut buf).unwrap().1.is_some() {
                switched_on = true;
                break;
            }
        }
        assert!(switched_on, "the kernel never stamped a segment");
        let before = super::monotonic_ns();
        client.write_all(b"hello").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(30));
        let (n, stamp) = super::recv(server.as_raw_fd(), &mut buf).unwrap();
        let after = super::monotonic_ns();
        assert_eq!(&buf[..n], b"hello");
        let stamp = stamp.unwrap();
        // Stamped on arrival, not 30 ms later when read.
        assert!(stamp >= before.saturating_sub(1_000_000) && stamp + 20_000_000 < after, "{before} {stamp} {after}");
        assert_eq!(super::recv(server.as_raw_fd(), &mut buf).unwrap_err().kind(), std::io::ErrorKind::WouldBlock);
    }
}
