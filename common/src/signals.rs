//! The signal state the tool was started with, so the command gets exactly that
//! back: whatever a tool blocks or ignores for itself must not leak into the
//! command, while a signal ignored by the caller (`nohup`) stays ignored.
//!
//! The tools run with `no_main`, so Rust's runtime leaves every disposition as
//! the caller set it. A tool changes dispositions only through [`ignore`],
//! which records the original first; the mask is recorded at start. Restoring
//! is then a handful of system calls, not one per signal.

use std::sync::Mutex;
use std::sync::OnceLock;

struct Mask(libc::sigset_t);

// SAFETY: sigset_t is plain data, written once before anything reads it.
unsafe impl Sync for Mask {}
// SAFETY: as above.
unsafe impl Send for Mask {}

static START_MASK: OnceLock<Mask> = OnceLock::new();

/// Dispositions the tool changed: (signal, the original handler).
static CHANGED: Mutex<Vec<(libc::c_int, libc::sighandler_t)>> = Mutex::new(Vec::new());

/// A signal set holding exactly `signals`.
pub fn set_of(signals: &[libc::c_int]) -> libc::sigset_t {
    // SAFETY: sigset_t is plain data, initialised by sigemptyset.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid sigset_t; sigaddset only refuses numbers that are no signal, which we never pass.
    unsafe {
        libc::sigemptyset(&mut set);
        for &s in signals {
            libc::sigaddset(&mut set, s);
        }
    }
    set
}

fn empty_set() -> libc::sigset_t {
    set_of(&[])
}

/// Record the signal mask the tool was started with. Called first in `main`.
pub fn capture() {
    let mut mask = empty_set();
    // SAFETY: a null new set only queries the mask into `mask`.
    // A query cannot fail; were it to, the mask recorded is empty, the default.
    unsafe { libc::sigprocmask(libc::SIG_BLOCK, std::ptr::null(), &mut mask) };
    let _ = START_MASK.set(Mask(mask));
}

/// Ignore `sig` for the tool itself; the command will get the original back.
pub fn ignore(sig: libc::c_int) {
    // SAFETY: installing SIG_IGN involves no handler code.
    let old = unsafe { libc::signal(sig, libc::SIG_IGN) };
    if old != libc::SIG_ERR
        && let Ok(mut changed) = CHANGED.lock()
        && !changed.iter().any(|(s, _)| *s == sig)
    {
        changed.push((sig, old));
    }
}

/// Put back the dispositions the tool changed and the mask it started with
/// (an empty mask without a capture).
pub fn restore() {
    if let Ok(changed) = CHANGED.lock() {
        for &(sig, old) in changed.iter() {
            // SAFETY: `old` is what signal(2) returned for this signal: SIG_DFL, SIG_IGN or a handler of ours.
            unsafe { libc::signal(sig, old) };
        }
    }
    let mask = start_mask();
    // SAFETY: a valid set.
    // Fails only for an invalid `how` or pointer, and neither can be.
    unsafe { libc::sigprocmask(libc::SIG_SETMASK, &mask, std::ptr::null_mut()) };
}

/// The signal mask the tool was started with (empty without a capture).
pub fn start_mask() -> libc::sigset_t {
    START_MASK.get().map_or_else(empty_set, |m| m.0)
}

/// The signals whose disposition the tool changed to something other than
/// what it found, for a spawned command to get back at their default.
pub fn changed_to_default() -> libc::sigset_t {
    let mut set = empty_set();
    if let Ok(changed) = CHANGED.lock() {
        for &(sig, old) in changed.iter() {
            if old == libc::SIG_DFL {
                // SAFETY: a valid set and signal number.
                unsafe { libc::sigaddset(&mut set, sig) };
            }
        }
    }
    set
}

/// The signals a command started by posix_spawn must get at their default:
/// those the tool changed from the default, and the C library's own internal
/// signals (32 up to SIGRTMIN: glibc's 32 and 33, musl's 32 to 34) where the
/// caller left them at the default. glibc's posix_spawn sets those to ignored
/// in the child unless they are named here (musl's, where it installed a
/// handler), where a plain exec would keep what the caller gave.
pub fn spawn_defaults() -> libc::sigset_t {
    let mut set = changed_to_default();
    for sig in (32..libc::SIGRTMIN()).filter(|&sig| internal_signal_at_default(sig)) {
        // The C library's sigaddset refuses its internal signals. The kernel's layout
        // is one bit per signal: signal N is bit N-1, counted from the first word.
        let (word, bit) = ((sig - 1) as usize / libc::c_ulong::BITS as usize, (sig - 1) as u32 % libc::c_ulong::BITS);
        // SAFETY: on Linux a sigset_t is an array of at least 1024 bits of c_ulong words, and `word` is within it.
        unsafe { *(&mut set as *mut libc::sigset_t).cast::<libc::c_ulong>().add(word) |= 1 << bit };
    }
    set
}

/// Whether one of the C library's internal signals is at SIG_DFL in this
/// process. Asked of the kernel directly: the library's sigaction refuses them.
fn internal_signal_at_default(sig: libc::c_int) -> bool {
    /// The kernel's `struct sigaction` (x86_64 and the other 64-bit ABIs without sa_restorer quirks).
    #[repr(C)]
    struct KernelSigaction {
        handler: libc::c_ulong,
        flags: libc::c_ulong,
        restorer: libc::c_ulong,
        mask: libc::c_ulong,
    }
    let mut old = KernelSigaction { handler: 0, flags: 0, restorer: 0, mask: 0 };
    // SAFETY: a query only (no new action), into a struct of the kernel's layout, with its 8-byte mask size.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_rt_sigaction,
            sig,
            std::ptr::null::<KernelSigaction>(),
            &mut old,
            size_of::<libc::c_ulong>(),
        )
    };
    rc == 0 && old.handler == libc::SIG_DFL as libc::c_ulong
}

/// A signal by its number (1 to 64) or its name, with or without SIG, in any
/// case (TERM, SIGKILL, usr1); the real-time ones by number only.
pub fn by_name_or_number(text: &str) -> Option<libc::c_int> {
    if let Ok(n) = text.parse::<libc::c_int>()
        && (1..=64).contains(&n)
    {
        return Some(n);
    }
    let name = text.to_ascii_uppercase();
    let name = name.strip_prefix("SIG").unwrap_or(&name);
    NAMES.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}

/// The standard signals by name.
const NAMES: [(&str, libc::c_int); 30] = [
    ("HUP", libc::SIGHUP),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("ILL", libc::SIGILL),
    ("TRAP", libc::SIGTRAP),
    ("ABRT", libc::SIGABRT),
    ("BUS", libc::SIGBUS),
    ("FPE", libc::SIGFPE),
    ("KILL", libc::SIGKILL),
    ("USR1", libc::SIGUSR1),
    ("SEGV", libc::SIGSEGV),
    ("USR2", libc::SIGUSR2),
    ("PIPE", libc::SIGPIPE),
    ("ALRM", libc::SIGALRM),
    ("TERM", libc::SIGTERM),
    ("CHLD", libc::SIGCHLD),
    ("CONT", libc::SIGCONT),
    ("STOP", libc::SIGSTOP),
    ("TSTP", libc::SIGTSTP),
    ("TTIN", libc::SIGTTIN),
    ("TTOU", libc::SIGTTOU),
    ("URG", libc::SIGURG),
    ("XCPU", libc::SIGXCPU),
    ("XFSZ", libc::SIGXFSZ),
    ("VTALRM", libc::SIGVTALRM),
    ("PROF", libc::SIGPROF),
    ("WINCH", libc::SIGWINCH),
    ("IO", libc::SIGIO),
    ("PWR", libc::SIGPWR),
    ("SYS", libc::SIGSYS),
];
