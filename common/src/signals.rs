//! The signal state the tool was started with, so the command gets exactly that
//! back: whatever a tool blocks or ignores for itself must not leak into the
//! command, while a signal ignored by the caller (`nohup`) stays ignored.

use std::sync::OnceLock;

struct StartState {
    mask: libc::sigset_t,
    /// `ignored[n]` is true when signal n was SIG_IGN at start.
    ignored: [bool; 65],
}

// SAFETY: sigset_t is plain data; the state is written once, before anything reads it.
unsafe impl Sync for StartState {}
// SAFETY: as above: plain data.
unsafe impl Send for StartState {}

static AT_START: OnceLock<StartState> = OnceLock::new();

fn last_signal() -> i32 {
    libc::SIGRTMAX().min(64)
}

/// Record the signal mask and the ignored signals. Called first thing in `main`,
/// before Rust or the tool changes anything (the tools run with `no_main`, so
/// Rust's runtime does not set SIGPIPE to SIG_IGN behind our back).
pub fn capture() {
    let mut ignored = [false; 65];
    for (sig, slot) in ignored.iter_mut().enumerate().skip(1).take(last_signal() as usize) {
        // SAFETY: a null new action only queries; `old` is a valid out-pointer.
        let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: see above.
        let rc = unsafe { libc::sigaction(sig as i32, std::ptr::null(), &mut old) };
        *slot = rc == 0 && old.sa_sigaction == libc::SIG_IGN;
    }
    // SAFETY: sigset_t is plain data; sigprocmask fills it.
    let mut mask: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: a null new set only queries the mask into `mask`.
    unsafe { libc::sigprocmask(libc::SIG_BLOCK, std::ptr::null(), &mut mask) };
    let _ = AT_START.set(StartState { mask, ignored });
}

/// Put back the dispositions and the mask recorded by [`capture`]. Without a
/// capture (a library user), every signal goes back to default and unblocked.
pub fn restore() {
    let state = AT_START.get();
    for sig in 1..=last_signal() {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        let ignore = state.is_some_and(|s| s.ignored[sig as usize]);
        // SAFETY: plain-data struct, filled below.
        let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
        action.sa_sigaction = if ignore { libc::SIG_IGN } else { libc::SIG_DFL };
        // SAFETY: `action` is valid; signals glibc reserves answer EINVAL, which is fine to ignore.
        unsafe { libc::sigaction(sig, &action, std::ptr::null_mut()) };
    }
    // SAFETY: both sets are valid sigset_t values.
    unsafe {
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        let mask = state.map_or(&empty as *const _, |s| &s.mask as *const _);
        libc::sigprocmask(libc::SIG_SETMASK, mask, std::ptr::null_mut());
    }
}

/// The signal mask the tool was started with (empty without a capture).
pub fn start_mask() -> libc::sigset_t {
    match AT_START.get() {
        Some(state) => state.mask,
        None => {
            // SAFETY: plain data, initialised by sigemptyset.
            let mut empty: libc::sigset_t = unsafe { std::mem::zeroed() };
            // SAFETY: a valid sigset_t.
            unsafe { libc::sigemptyset(&mut empty) };
            empty
        }
    }
}

/// Every signal that was not ignored at start: what a spawned command gets
/// back at its default disposition.
pub fn not_ignored_at_start() -> libc::sigset_t {
    // SAFETY: plain data, initialised by sigemptyset.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: a valid sigset_t; signal numbers are in range.
    unsafe {
        libc::sigemptyset(&mut set);
        for sig in 1..=last_signal() {
            let ignored = AT_START.get().is_some_and(|s| s.ignored[sig as usize]);
            if !ignored && sig != libc::SIGKILL && sig != libc::SIGSTOP {
                libc::sigaddset(&mut set, sig);
            }
        }
    }
    set
}
