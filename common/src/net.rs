//! Network namespaces: the loopback interface a new one needs.

use nix::errno::Errno;

use crate::error::Error;
use crate::trace;

/// Bring `lo` up in a new network namespace, as bwrap and nsjail do.
pub fn loopback_up() -> Result<(), Error> {
    trace::step(|| "ip link set lo up".to_owned());
    let fail = |e: Errno| Error::sys("cannot bring up", "lo", e);
    // SAFETY: plain socket(2) call; the result is checked.
    let sock = Errno::result(unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) })
        .map_err(fail)?;
    // SAFETY: ifreq is plain data; zeroed is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // In a new network namespace lo's flags are IFF_LOOPBACK and nothing
    // else, so they are set at once, without reading them first.
    req.ifr_ifru.ifru_flags = (libc::IFF_UP | libc::IFF_LOOPBACK | libc::IFF_RUNNING) as libc::c_short;
    // SAFETY: `req` is a valid ifreq naming "lo" with its flags; the ioctl reads it.
    let result = unsafe { Errno::result(libc::ioctl(sock, libc::SIOCSIFFLAGS as _, &req)) };
    // SAFETY: `sock` is ours and closed once.
    unsafe { libc::close(sock) };
    result.map(drop).map_err(fail)
}
