//! Processes: a child cloned into new namespaces, the parent that waits for it
//! and relays its fate, the small init that runs as PID 1, and the handshake
//! bytes between parent and child.

use std::ffi::OsString;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;

use crate::error::Error;
use crate::{exec, exit, signals};

/// `struct clone_args` of clone3(2) (the first 11 fields, Linux 5.7).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// Which side of a fork-like clone we are on.
#[derive(Debug, PartialEq, Eq)]
pub enum Forked {
    Parent(libc::pid_t),
    Child,
}

/// Clone a child into new namespaces, fork-style (a copy of our memory, no
/// shared stack): clone3 where the kernel has it, clone(2) otherwise. The
/// tools are single-threaded, so the child may run ordinary code until it
/// execs or exits with `_exit`.
pub fn clone_child(flags: libc::c_int) -> Result<Forked, Errno> {
    let mut args = CloneArgs { flags: flags as u32 as u64, exit_signal: libc::SIGCHLD as u64, ..Default::default() };
    // SAFETY: no CLONE_VM and no stack: the child gets a copy of the address space, as with fork(2).
    let mut rc = unsafe { libc::syscall(libc::SYS_clone3, &mut args as *mut CloneArgs, size_of::<CloneArgs>()) };
    if rc == -1 && Errno::last() == Errno::ENOSYS {
        // SAFETY: clone(2) with a NULL stack and no CLONE_VM behaves like fork(2).
        rc = unsafe {
            libc::syscall(libc::SYS_clone, (flags | libc::SIGCHLD) as libc::c_ulong, 0usize, 0usize, 0usize, 0usize)
        };
    }
    match rc {
        -1 => Err(Errno::last()),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(pid as libc::pid_t)),
    }
}

/// A fork whose child is born in the cgroup `cgroup` (clone3 with
/// CLONE_INTO_CGROUP, Linux 5.7, cgroup v2): no write to cgroup.procs, and
/// its global lock, on the way. `Err` when the kernel cannot: fork and join.
pub fn fork_into_cgroup(cgroup: BorrowedFd<'_>) -> Result<Forked, Errno> {
    clone_into_cgroup(0, cgroup)
}

/// [`clone_child`] with the child born in the cgroup `cgroup` (clone3 with
/// CLONE_INTO_CGROUP); `Err` when the kernel cannot, and no child then.
pub fn clone_into_cgroup(flags: libc::c_int, cgroup: BorrowedFd<'_>) -> Result<Forked, Errno> {
    const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;
    let mut args = CloneArgs {
        flags: CLONE_INTO_CGROUP | flags as u32 as u64,
        exit_signal: libc::SIGCHLD as u64,
        cgroup: cgroup.as_raw_fd() as u64,
        ..Default::default()
    };
    // SAFETY: no CLONE_VM and no stack: the child gets a copy of the address space, as with fork(2).
    let rc = unsafe { libc::syscall(libc::SYS_clone3, &mut args as *mut CloneArgs, size_of::<CloneArgs>()) };
    match rc {
        -1 => Err(Errno::last()),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(pid as libc::pid_t)),
    }
}

/// A fork whose child sends no signal when it exits and that wait(2) reports
/// only with __WALL: a child the parent's program does not know it has.
pub fn fork_quiet() -> Result<Forked, Errno> {
    let mut args = CloneArgs::default();
    // SAFETY: no CLONE_VM and no stack: the child gets a copy of the address space, as with fork(2).
    let mut rc = unsafe { libc::syscall(libc::SYS_clone3, &mut args as *mut CloneArgs, size_of::<CloneArgs>()) };
    if rc == -1 && Errno::last() == Errno::ENOSYS {
        // SAFETY: clone(2) with a NULL stack, no CLONE_VM and no exit signal: fork(2) without SIGCHLD.
        rc = unsafe { libc::syscall(libc::SYS_clone, 0 as libc::c_ulong, 0usize, 0usize, 0usize, 0usize) };
    }
    match rc {
        -1 => Err(Errno::last()),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(pid as libc::pid_t)),
    }
}

/// A plain fork, for helpers that stay in the caller's namespaces.
pub fn fork() -> Result<Forked, Errno> {
    // SAFETY: the tools are single-threaded; the child only runs our own code, then _exit or exec.
    match unsafe { nix::unistd::fork() }? {
        nix::unistd::ForkResult::Parent { child } => Ok(Forked::Parent(child.as_raw())),
        nix::unistd::ForkResult::Child => Ok(Forked::Child),
    }
}

/// Reap a forked helper. Exit 0 is success; another exit status means it
/// reported its failure itself, on its own line; a death by a signal is
/// reported here, naming the helper.
pub fn reap_helper(pid: libc::pid_t, name: &str) -> Result<(), Error> {
    use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
    match waitpid(nix::unistd::Pid::from_raw(pid), Some(WaitPidFlag::__WALL)) {
        Ok(WaitStatus::Exited(_, 0)) => Ok(()),
        Ok(WaitStatus::Exited(..)) => Err(Error::reported()),
        Ok(WaitStatus::Signaled(_, sig, _)) => Err(Error::new("setup failed", name, format!("killed by {sig}"))),
        Ok(_) => Err(Error::reported()),
        Err(e) => Err(Error::sys("cannot wait for", name, e)),
    }
}

/// A new session, without the caller's terminal (`--new-session`): the
/// command can then push nothing into the caller's input (TIOCSTI) and
/// gets no job control. EPERM: we lead a process group already (a shell's
/// job), which a new session cannot start from.
pub fn new_session() -> Result<(), Error> {
    crate::trace::step(|| "setsid".to_owned());
    nix::unistd::setsid().map(drop).map_err(|e| {
        let why = match e {
            Errno::EPERM => "Operation not permitted (this process leads a process group: run it through nsclone --new-session, or from a script)".to_owned(),
            e => e.desc().to_owned(),
        };
        Error::new("cannot start", "a new session", why)
    })
}

/// Leave a forked child: flush what it printed and exit without running the
/// parent's destructors or atexit handlers.
pub fn child_exit(code: i32) -> ! {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    // SAFETY: _exit ends the process at once; nothing is left to unwind.
    unsafe { libc::_exit(code) }
}

/// A child reports its failure and leaves with its status.
pub fn child_fail(err: &Error) -> ! {
    crate::report(err);
    child_exit(err.code)
}

/// Die when the parent dies (even by SIGKILL), and close the window between
/// the fork and this call: if the parent is already gone, the pipe whose
/// write end only the parent holds reports a hang-up.
pub fn die_with_parent(parent_pipe: BorrowedFd<'_>) -> Result<(), Error> {
    nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
        .map_err(|e| Error::sys("cannot set", "PR_SET_PDEATHSIG", e))?;
    let mut fds = [libc::pollfd { fd: parent_pipe.as_raw_fd(), events: 0, revents: 0 }];
    // SAFETY: one valid pollfd, no timeout.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), 1, 0) };
    if n > 0 && fds[0].revents & (libc::POLLHUP | libc::POLLERR) != 0 {
        child_exit(exit::TOOL_FAILED);
    }
    Ok(())
}

/// Signals the waiting parent passes on to its child. Left out: those that
/// cannot be caught, SIGCHLD (ours), the job-control stops (the parent must
/// stop with its child at Ctrl-Z), and the synchronous faults.
pub fn forwarded_signals() -> Vec<libc::c_int> {
    let never = [
        libc::SIGKILL,
        libc::SIGSTOP,
        libc::SIGCHLD,
        libc::SIGTSTP,
        libc::SIGTTIN,
        libc::SIGTTOU,
        libc::SIGSEGV,
        libc::SIGBUS,
        libc::SIGFPE,
        libc::SIGILL,
        libc::SIGTRAP,
        libc::SIGSYS,
    ];
    (1..=libc::SIGRTMAX()).filter(|s| !never.contains(s) && !(32..libc::SIGRTMIN()).contains(s)).collect()
}

/// Block what the waiting parent will take with sigwaitinfo: the forwarded
/// signals and SIGCHLD. Done before the clone, so none is lost in between.
pub fn block_for_waiting() {
    let mut signals = forwarded_signals();
    signals.push(libc::SIGCHLD);
    let set = signals::set_of(&signals);
    // sigprocmask fails only for an invalid `how` or pointer, and neither can be.
    // SAFETY: a valid set; the old mask is not needed (signals::capture has it).
    unsafe { libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
}

/// Give back this process's resident pages of its program's code and
/// constants (the read-only segments of the executable) before it waits for
/// long: a tool that only waits then holds the pages its waiting touches (the
/// kernel maps them back 64 KiB around each fault), not the hundreds its start
/// touched. They stay in the page cache: what runs again maps them again,
/// unchanged. Written pages (data, relocations, heap, stack) are never given
/// back, and only whole pages inside a read-only segment are.
///
/// Inlined, with the system calls made without the C library, so that from
/// here to the wait (`wait_for_signal`, `poll_without_libc`) the code that runs
/// is the caller's own, in one place: one window of pages comes back, not one
/// for the C library's wrapper of each call as well.
#[inline(always)]
pub fn release_program_pages() {
    let (ranges, count) = program_read_only_pages();
    for &(start, end) in &ranges[..count] {
        // SAFETY: whole pages of a read-only mapping of our executable: MADV_DONTNEED drops
        // them from our page tables, and a later access maps the same page again.
        unsafe { raw::syscall(libc::SYS_madvise, [start, end - start, libc::MADV_DONTNEED as usize, 0, 0]) };
    }
}

/// The read-only segments of our executable as whole pages (at most 8, no heap).
#[inline(never)]
fn program_read_only_pages() -> ([(usize, usize); 8], usize) {
    let mut out = [(0, 0); 8];
    // SAFETY: getauxval only reads the auxiliary vector the kernel gave us.
    let (phdr, count, page) =
        unsafe { (libc::getauxval(libc::AT_PHDR), libc::getauxval(libc::AT_PHNUM), libc::getauxval(libc::AT_PAGESZ)) };
    if phdr == 0 || !page.is_power_of_two() {
        return (out, 0);
    }
    // SAFETY: AT_PHDR and AT_PHNUM describe our executable's program headers, mapped
    // for the life of the process.
    let headers = unsafe { std::slice::from_raw_parts(phdr as usize as *const ProgramHeader, count as usize) };
    unsafe extern "C" {
        /// The linker's symbol for the executable's ELF header, where it is loaded.
        static __ehdr_start: u8;
    }
    let Some(base) = load_base(headers, &raw const __ehdr_start as usize, phdr as usize) else { return (out, 0) };
    let mut n = 0;
    for range in read_only_pages(headers, base, page as usize).into_iter().take(out.len()) {
        out[n] = range;
        n += 1;
    }
    (out, n)
}

/// Wait for one of `set`'s signals (blocked), at most `timeout`: its number,
/// or the errno (EAGAIN when the time ran out). rt_sigtimedwait(2) itself,
/// see [`release_program_pages`].
#[inline(always)]
fn wait_for_signal(
    set: &libc::sigset_t,
    info: &mut libc::siginfo_t,
    timeout: Option<&libc::timespec>,
) -> Result<i32, Errno> {
    let timeout = timeout.map_or(0, |t| t as *const libc::timespec as usize);
    // SAFETY: a valid set, a siginfo the kernel fills, a valid timeout or none; the kernel's
    // sigset is 64 bits, the first bytes of the C library's.
    let rc = unsafe {
        raw::syscall(
            libc::SYS_rt_sigtimedwait,
            [set as *const libc::sigset_t as usize, info as *mut libc::siginfo_t as usize, timeout, 8, 0],
        )
    };
    if rc < 0 { Err(Errno::from_raw(-rc as i32)) } else { Ok(rc as i32) }
}

/// poll(2) with no timeout, as ppoll(2) itself; see [`release_program_pages`].
#[inline(always)]
pub fn poll_without_libc(fds: &mut [libc::pollfd]) -> Result<usize, Errno> {
    // SAFETY: valid pollfds, no timeout, no signal mask.
    let rc = unsafe { raw::syscall(libc::SYS_ppoll, [fds.as_mut_ptr() as usize, fds.len(), 0, 0, 0]) };
    if rc < 0 { Err(Errno::from_raw(-rc as i32)) } else { Ok(rc as usize) }
}

/// System calls without the C library: the result, or minus the errno.
mod raw {
    /// # Safety
    /// As the system call `number` with these arguments.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    pub unsafe fn syscall(number: libc::c_long, args: [usize; 5]) -> isize {
        let rc: isize;
        // SAFETY: the kernel's calling convention: number in rax, arguments in rdi, rsi, rdx,
        // r10, r8; rcx and r11 clobbered; the stack untouched.
        unsafe {
            std::arch::asm!("syscall", inlateout("rax") number as isize => rc, in("rdi") args[0], in("rsi") args[1],
                in("rdx") args[2], in("r10") args[3], in("r8") args[4], lateout("rcx") _, lateout("r11") _,
                options(nostack));
        }
        rc
    }

    /// # Safety
    /// As the system call `number` with these arguments.
    #[cfg(target_arch = "aarch64")]
    #[inline(always)]
    pub unsafe fn syscall(number: libc::c_long, args: [usize; 5]) -> isize {
        let rc: isize;
        // SAFETY: the kernel's calling convention: number in x8, arguments in x0-x4, result in x0.
        unsafe {
            std::arch::asm!("svc 0", in("x8") number, inlateout("x0") args[0] as isize => rc, in("x1") args[1],
                in("x2") args[2], in("x3") args[3], in("x4") args[4], options(nostack));
        }
        rc
    }

    /// # Safety
    /// As the system call `number` with these arguments.
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    #[inline(always)]
    pub unsafe fn syscall(number: libc::c_long, args: [usize; 5]) -> isize {
        // SAFETY: the caller's contract.
        let rc = unsafe { libc::syscall(number, args[0], args[1], args[2], args[3], args[4]) };
        if rc == -1 { -(nix::errno::Errno::last() as isize) } else { rc as isize }
    }
}

#[cfg(target_pointer_width = "64")]
type ProgramHeader = libc::Elf64_Phdr;
#[cfg(target_pointer_width = "32")]
type ProgramHeader = libc::Elf32_Phdr;

/// Where the program was loaded: the address of its ELF header less the
/// address its file's start is linked at; checked against the kernel's
/// AT_PHDR (a static PIE has no PT_PHDR to tell it directly).
fn load_base(headers: &[ProgramHeader], elf_header: usize, phdr: usize) -> Option<usize> {
    let first = headers.iter().find(|h| h.p_type == libc::PT_LOAD && h.p_offset == 0)?;
    let base = elf_header.checked_sub(first.p_vaddr as usize)?;
    headers
        .iter()
        .filter(|h| h.p_type == libc::PT_LOAD)
        .any(|h| (base + h.p_vaddr as usize..base + (h.p_vaddr + h.p_memsz) as usize).contains(&phdr))
        .then_some(base)
}

/// The whole pages of each read-only loadable segment of a program loaded at `base`.
fn read_only_pages(headers: &[ProgramHeader], base: usize, page: usize) -> Vec<(usize, usize)> {
    headers
        .iter()
        .filter(|h| h.p_type == libc::PT_LOAD && h.p_flags & libc::PF_W == 0)
        .map(|h| {
            let start = base + h.p_vaddr as usize;
            (start.next_multiple_of(page), (start + h.p_memsz as usize) & !(page - 1))
        })
        .filter(|(start, end)| end > start)
        .collect()
}

/// A signal a user (or a process) sent, as opposed to one the kernel sent to
/// the whole foreground process group from the terminal, which the command,
/// in that group too, has already received.
fn sent_by_a_process(info: &libc::siginfo_t) -> bool {
    info.si_code <= 0
}

/// Wait for `child`, passing on every signal sent to us, and return its raw
/// wait status.
pub fn wait_forwarding(child: libc::pid_t) -> Result<i32, Error> {
    wait_loop(child, None, false, false)
}

/// [`wait_forwarding`] for a child in a session of its own (a container's
/// process, as runc makes it): the terminal's signals (Ctrl-C) reach only
/// us, so those go on too.
pub fn wait_forwarding_every(child: libc::pid_t) -> Result<i32, Error> {
    wait_loop(child, None, false, true)
}

/// [`wait_forwarding`], and stop when `child` stops, as nsenter does: the
/// shell that runs us sees the job stopped, and once it continues us, we
/// continue the child.
pub fn wait_mirroring_stops(child: libc::pid_t) -> Result<i32, Error> {
    wait_loop(child, None, true, false)
}

/// [`wait_forwarding`], calling `tick` at least every `every` meanwhile (for
/// a watch the kernel gives no signal for, such as v1's OOM kill counter).
pub fn wait_forwarding_ticking(
    child: libc::pid_t,
    tick: Option<(std::time::Duration, &mut dyn FnMut())>,
) -> Result<i32, Error> {
    wait_loop(child, tick, false, false)
}

fn wait_loop(
    child: libc::pid_t,
    mut tick: Option<(std::time::Duration, &mut dyn FnMut())>,
    mirror_stops: bool,
    every_signal: bool,
) -> Result<i32, Error> {
    let mut signals = forwarded_signals();
    signals.push(libc::SIGCHLD);
    let set = signals::set_of(&signals);
    release_program_pages();
    loop {
        // SAFETY: plain data, filled by the kernel.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let sig = match &mut tick {
            None => wait_for_signal(&set, &mut info, None),
            Some((every, tick)) => {
                let timeout = libc::timespec { tv_sec: every.as_secs() as _, tv_nsec: every.subsec_nanos() as _ };
                match wait_for_signal(&set, &mut info, Some(&timeout)) {
                    Err(Errno::EAGAIN) => {
                        tick();
                        continue;
                    }
                    other => other,
                }
            }
        };
        let sig = match sig {
            Ok(sig) => sig,
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(Error::sys("cannot wait for signals", child, e)),
        };
        if sig == libc::SIGCHLD {
            match reap(child, mirror_stops)? {
                Some(status) => return Ok(status),
                None => continue,
            }
        }
        if every_signal || sent_by_a_process(&info) {
            // SAFETY: `child` is our unreaped child, so its pid cannot have been reused.
            unsafe { libc::kill(child, sig) };
        }
    }
}

/// Leave the way the command left: its exit code, or death by its signal
/// (with core dumps off, so we leave no core file of our own). Returns the
/// status to exit with when dying is impossible.
pub fn mirror(status: i32) -> i32 {
    let code = shell_status(status);
    if !libc::WIFSIGNALED(status) {
        return code;
    }
    let sig = libc::WTERMSIG(status);
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let no_core = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // Each call can fail only for arguments that are valid here; should one
    // fail anyway, the worst is that we exit with `code` below instead of
    // dying (or leave a core file): the status the caller sees stays right.
    // SAFETY: plain syscalls on our own process with valid arguments.
    unsafe {
        libc::setrlimit(libc::RLIMIT_CORE, &no_core);
        libc::signal(sig, libc::SIG_DFL);
        let set = signals::set_of(&[sig]);
        libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        libc::kill(libc::getpid(), sig);
    }
    // Still here: the signal does not kill (or we are a PID 1); say it as a shell would.
    code
}

/// A raw wait status as a shell reports it: the exit code, or 128+N for a
/// death by signal N (125 for anything else).
pub fn shell_status(status: i32) -> i32 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        exit::TOOL_FAILED
    }
}

unsafe extern "C" {
    static environ: *const *const libc::c_char;
}

/// Start `argv` as a child with the signal state the tool was started with,
/// vfork-style (posix_spawnp), and return its pid.
pub fn spawn(argv: &[OsString]) -> Result<libc::pid_t, Error> {
    let Some(program) = argv.first() else { return Err(Error::usage("no command given")) };
    let cargs = exec::c_argv(argv)?;
    let mut ptrs: Vec<*const libc::c_char> = cargs.iter().map(|c| c.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    let mask = signals::start_mask();
    let defaults = signals::spawn_defaults();
    // SAFETY: attr is initialised before use and destroyed after; every pointer is valid for the call.
    unsafe {
        let mut attr: libc::posix_spawnattr_t = std::mem::zeroed();
        let mut actions: libc::posix_spawn_file_actions_t = std::mem::zeroed();
        // glibc's attribute setters only store values (they fail for no valid
        // argument); init can fail only for lack of memory, and is checked.
        let ready = libc::posix_spawnattr_init(&mut attr) == 0
            && libc::posix_spawnattr_setsigmask(&mut attr, &mask) == 0
            && libc::posix_spawnattr_setsigdefault(&mut attr, &defaults) == 0
            && libc::posix_spawnattr_setflags(
                &mut attr,
                (libc::POSIX_SPAWN_SETSIGMASK | libc::POSIX_SPAWN_SETSIGDEF) as _,
            ) == 0
            && libc::posix_spawn_file_actions_init(&mut actions) == 0;
        if !ready {
            return Err(Error::sys("cannot start", crate::error::quoted(program), Errno::ENOMEM));
        }
        let mut pid: libc::pid_t = 0;
        let mut rc = libc::posix_spawnp(&mut pid, ptrs[0], &actions, &attr, ptrs.as_ptr() as _, environ as _);
        if rc == libc::ENOEXEC {
            // As execvp does: a file the kernel cannot run is a shell script.
            let sh = c"/bin/sh";
            let mut with_sh: Vec<*const libc::c_char> = vec![sh.as_ptr()];
            with_sh.extend(&ptrs);
            rc = libc::posix_spawn(&mut pid, sh.as_ptr(), &actions, &attr, with_sh.as_ptr() as _, environ as _);
        }
        libc::posix_spawnattr_destroy(&mut attr);
        libc::posix_spawn_file_actions_destroy(&mut actions);
        if rc != 0 {
            return Err(exec::exec_failure(program, Errno::from_raw(rc)));
        }
        Ok(pid)
    }
}

/// Start `argv` as a child that gets SIGKILL when we die (fork, then
/// PR_SET_PDEATHSIG, then exec), for a relay outside a new PID namespace.
pub fn spawn_tied(argv: &[OsString]) -> Result<libc::pid_t, Error> {
    let me = nix::unistd::getpid();
    match fork().map_err(|e| Error::sys("cannot fork", "the command", e))? {
        Forked::Parent(pid) => Ok(pid),
        Forked::Child => {
            let tied = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL);
            if tied.is_err() || nix::unistd::getppid() != me {
                child_exit(exit::TOOL_FAILED);
            }
            child_fail(&exec::exec_into(argv))
        }
    }
}

/// The init of a new PID namespace: start the command, reap every orphan,
/// pass every signal sent to us on to the command, and leave as soon as the
/// command does, which ends everything else in the namespace. The command's
/// raw wait status goes to `report` first, since an init cannot die of a
/// signal it sends itself.
pub fn run_init(argv: &[OsString], report: Option<BorrowedFd<'_>>, on_spawn: impl FnOnce(libc::pid_t)) -> ! {
    let set = block_all_signals();
    // As PID 1 the command dies with us anyway; otherwise it is tied to us.
    let started = if nix::unistd::getpid().as_raw() == 1 { spawn(argv) } else { spawn_tied(argv) };
    let command = match started {
        Ok(pid) => pid,
        Err(err) => child_fail(&err),
    };
    // The caller's last steps with the command started (a report, a seal away from files).
    on_spawn(command);
    release_program_pages();
    loop {
        // SAFETY: plain data, filled by the kernel.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let sig = wait_for_signal(&set, &mut info, None).unwrap_or(0);
        if sig == libc::SIGCHLD {
            loop {
                let mut status = 0;
                // SAFETY: a valid out-pointer; WNOHANG never blocks.
                let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
                if pid <= 0 {
                    break;
                }
                if pid == command {
                    if let Some(fd) = report {
                        let _ = nix::unistd::write(fd, &status.to_ne_bytes());
                    }
                    child_exit(shell_status(status));
                }
            }
        } else if sig > 0 && sent_by_a_process(&info) {
            // SAFETY: `command` is our unreaped child.
            unsafe { libc::kill(command, sig) };
        }
    }
}

/// Keep the descriptors a helper process needs; point 0, 1 and 2 at /dev/null
/// so the helper holds no pipe or terminal of the caller open.
pub fn detach_stdio(keep: &[BorrowedFd<'_>]) {
    let mut keep: Vec<u32> = keep.iter().map(|fd| fd.as_raw_fd() as u32).collect();
    keep.sort_unstable();
    // SAFETY: opening /dev/null and moving it onto 0..2; closing descriptors we do not keep.
    unsafe {
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC);
        for fd in 0..3 {
            // Whatever fails here, the descriptor is not the caller's any more: closed is as good.
            if null < 0 || libc::dup3(null, fd, 0) < 0 {
                libc::close(fd);
            }
        }
        let mut from = 3u32;
        for &k in keep.iter().filter(|&&k| k >= 3) {
            if k > from {
                libc::syscall(libc::SYS_close_range, from, k - 1, 0);
            }
            from = k + 1;
        }
        // close_range fails only for flags we do not pass.
        libc::syscall(libc::SYS_close_range, from, u32::MAX, 0);
    }
}

/// A pidfd for `pid` (Linux 5.3): it becomes readable when the process exits.
pub fn pidfd_open(pid: libc::pid_t) -> Result<OwnedFd, Errno> {
    // SAFETY: plain syscall with integer arguments; the result is checked.
    let rc = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    // SAFETY: a fresh descriptor the kernel returned, owned by nobody else.
    Errno::result(rc).map(|fd| unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd as i32) })
}

/// A PID 1 that only reaps, until the process behind the pidfd `watched`
/// exits (without one, until SIGKILL, from PDEATHSIG, ends it).
pub fn hold_while(watched: Option<OwnedFd>) -> ! {
    let _ = block_all_signals();
    let chld = signals::set_of(&[libc::SIGCHLD]);
    // SAFETY: a valid set; the new descriptor is checked.
    let sfd = unsafe { libc::signalfd(-1, &chld, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK) };
    if sfd < 0 {
        child_exit(exit::TOOL_FAILED);
    }
    let mut fds = [
        libc::pollfd { fd: watched.as_ref().map_or(-1, AsRawFd::as_raw_fd), events: libc::POLLIN, revents: 0 },
        libc::pollfd { fd: sfd, events: libc::POLLIN, revents: 0 },
    ];
    release_program_pages();
    loop {
        if poll_without_libc(&mut fds).is_err() {
            continue;
        }
        if fds[0].revents != 0 {
            child_exit(0);
        }
        let mut info = [0u8; 128];
        // SAFETY: draining the signalfd into a buffer of the size of a signalfd_siginfo.
        while unsafe { libc::read(sfd, info.as_mut_ptr().cast(), info.len()) } > 0 {}
        // SAFETY: reaping every exited child without blocking.
        while unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) } > 0 {}
    }
}

/// Block every signal a PID 1 takes with sigwaitinfo (all but the uncatchable
/// and glibc's own), and return that set.
fn block_all_signals() -> libc::sigset_t {
    let all: Vec<libc::c_int> = (1..=libc::SIGRTMAX())
        .filter(|&s| s != libc::SIGKILL && s != libc::SIGSTOP && !(32..libc::SIGRTMIN()).contains(&s))
        .collect();
    let set = signals::set_of(&all);
    // SAFETY: a valid set.
    // Fails only for an invalid `how` or pointer, and neither can be.
    unsafe { libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    set
}

/// A byte stream the waiting parent copies while it waits, from `from` to
/// `to`; `end`, if any, is closed when `from` ends (the write end of the
/// command's stdin pipe, so that the command sees the end of its input too).
/// An output stream's `from` must be non-blocking: it is drained at the end.
pub struct Stream {
    pub from: RawFd,
    pub to: RawFd,
    pub end: Option<OwnedFd>,
    /// The caller's input: never read once the command has ended.
    pub input: bool,
}

/// [`wait_mirroring_stops`], copying `streams` meanwhile (the command's pipes
/// or pty to and from the caller's terminal), then what is left in them once
/// the command has ended. Every signal is passed on, those the caller's
/// terminal sent too: the command is in a session of its own and gets none.
/// SIGWINCH calls `on_winch` instead when it is given (a pty takes the size).
pub fn wait_relaying(
    child: libc::pid_t,
    mut streams: Vec<Stream>,
    mut on_winch: Option<&mut dyn FnMut()>,
) -> Result<i32, Error> {
    let mut signals = forwarded_signals();
    signals.push(libc::SIGCHLD);
    let set = signals::set_of(&signals);
    // SAFETY: a valid set; the new descriptor is checked and owned below.
    let sfd = unsafe { libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK) };
    if sfd < 0 {
        return Err(Error::sys("cannot make", "a signalfd", Errno::last()));
    }
    // SAFETY: signalfd gave us this new descriptor.
    let sfd = unsafe { OwnedFd::from_raw_fd(sfd) };
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let mut fds = vec![libc::pollfd { fd: sfd.as_raw_fd(), events: libc::POLLIN, revents: 0 }];
        fds.extend(streams.iter().map(|s| libc::pollfd { fd: s.from, events: libc::POLLIN, revents: 0 }));
        // SAFETY: `fds` is a valid array of its length; no timeout.
        if unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) } < 0 {
            match Errno::last() {
                Errno::EINTR => continue,
                e => return Err(Error::sys("cannot wait for", child, e)),
            }
        }
        let mut ended = Vec::new();
        for (i, pfd) in fds.iter().enumerate().skip(1) {
            if pfd.revents != 0 && !copy_once(&streams[i - 1], &mut buffer) {
                ended.push(i - 1);
            }
        }
        for i in ended.into_iter().rev() {
            streams.remove(i);
        }
        if fds[0].revents == 0 {
            continue;
        }
        // SAFETY: plain data, filled by read.
        let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
        let size = std::mem::size_of::<libc::signalfd_siginfo>();
        // SAFETY: reads at most one siginfo into `info`.
        while unsafe { libc::read(sfd.as_raw_fd(), (&raw mut info).cast(), size) } == size as isize {
            let sig = info.ssi_signo as libc::c_int;
            if sig == libc::SIGWINCH
                && let Some(on_winch) = on_winch.as_mut()
            {
                on_winch();
            } else if sig != libc::SIGCHLD {
                // SAFETY: `child` is our unreaped child, so its pid cannot have been reused.
                unsafe { libc::kill(child, sig) };
            } else if let Some(status) = reap(child, true)? {
                for stream in &streams {
                    // What the command wrote last; never the caller's input any more.
                    if !stream.input {
                        while copy_once(stream, &mut buffer) {}
                    }
                }
                return Ok(status);
            }
        }
    }
}

/// Copy what `stream.from` has now; false when it has ended (or would block).
fn copy_once(stream: &Stream, buffer: &mut [u8]) -> bool {
    // SAFETY: reads into our buffer, at most its length.
    let n = unsafe { libc::read(stream.from, buffer.as_mut_ptr().cast(), buffer.len()) };
    if n <= 0 {
        return n < 0 && Errno::last() == Errno::EINTR;
    }
    let mut written = 0;
    while written < n as usize {
        // SAFETY: writes from our buffer, within what was read.
        let w = unsafe { libc::write(stream.to, buffer[written..].as_ptr().cast(), n as usize - written) };
        if w < 0 && Errno::last() == Errno::EINTR {
            continue;
        }
        if w <= 0 {
            return false;
        }
        written += w as usize;
    }
    true
}

/// Wait for `child` to end, and return its raw wait status.
pub fn wait_status(child: libc::pid_t) -> Result<i32, Error> {
    loop {
        let mut status = 0;
        // SAFETY: a valid out-pointer; waits for our own child.
        match unsafe { libc::waitpid(child, &mut status, 0) } {
            -1 if Errno::last() == Errno::EINTR => continue,
            -1 => return Err(Error::sys("cannot wait for", child, Errno::last())),
            _ => return Ok(status),
        }
    }
}

/// Reap `child` if it has ended (its raw status). With `mirror_stops`, if it
/// has stopped, stop with it and continue it once we are continued.
fn reap(child: libc::pid_t, mirror_stops: bool) -> Result<Option<i32>, Error> {
    let options = if mirror_stops { libc::WNOHANG | libc::WUNTRACED } else { libc::WNOHANG };
    loop {
        let mut status = 0;
        // SAFETY: a valid out-pointer; WNOHANG never blocks.
        match unsafe { libc::waitpid(child, &mut status, options) } {
            0 => return Ok(None),
            -1 if Errno::last() == Errno::EINTR => continue,
            -1 => return Err(Error::sys("cannot wait for", child, Errno::last())),
            _ if libc::WIFSTOPPED(status) => {
                // SAFETY: SIGSTOP stops us until someone continues us; `child` is our unreaped child.
                unsafe {
                    libc::kill(libc::getpid(), libc::SIGSTOP);
                    libc::kill(child, libc::SIGCONT);
                }
            }
            _ => return Ok(Some(status)),
        }
    }
}

/// Mark every descriptor from `first` up close-on-exec, so that of what our
/// caller handed us only what is meant to cross reaches the command
/// (close_range(2), Linux 5.11; before it, one by one from /proc/self/fd).
pub fn close_on_exec_from(first: u32) {
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 4;
    // SAFETY: close_range(2) marking a range close-on-exec; it frees nothing we use.
    if unsafe { libc::syscall(libc::SYS_close_range, first, libc::c_uint::MAX, CLOSE_RANGE_CLOEXEC) } == 0 {
        return;
    }
    let fds: Vec<i32> = std::fs::read_dir("/proc/self/fd")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter(|&fd: &i32| fd >= first as i32)
        .collect();
    for fd in fds {
        // SAFETY: F_SETFD on a descriptor number; one that was the directory's and is gone fails harmlessly.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
}

/// Not dumpable until exec (which resets it): no process of a container we
/// are entering may ptrace us or open our /proc files while we hold the
/// host's privileges and descriptors (runc's CVE-2016-9962).
pub fn not_dumpable() -> Result<(), Error> {
    nix::sys::prctl::set_dumpable(false).map_err(|e| Error::sys("cannot set", "PR_SET_DUMPABLE", e))
}

/// Our environment, all of it, replaced by `entries`: nothing of the
/// caller's reaches the command. clearenv, not remove_var: a forged entry of
/// the caller's ("=a=b") would make remove_var panic. Single-threaded
/// callers only (the tools and nsrun are).
pub fn replace_environment<N: AsRef<std::ffi::OsStr>, V: AsRef<std::ffi::OsStr>>(
    entries: impl IntoIterator<Item = (N, V)>,
) {
    // SAFETY: the callers are single-threaded: nothing reads the environment concurrently.
    unsafe {
        libc::clearenv();
        for (name, value) in entries {
            std::env::set_var(name, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(vaddr: u64, offset: u64, size: u64, flags: u32) -> ProgramHeader {
        // SAFETY: a plain C struct, all zeroes valid.
        let mut h: ProgramHeader = unsafe { std::mem::zeroed() };
        (h.p_type, h.p_flags, h.p_offset, h.p_vaddr, h.p_memsz) =
            (libc::PT_LOAD, flags, offset as _, vaddr as _, size as _);
        h
    }

    /// A static PIE as the linker lays the tools out: headers, code, constants, data.
    fn tool() -> Vec<ProgramHeader> {
        vec![
            load(0, 0, 0x4130, libc::PF_R),
            load(0x5000, 0x5000, 0x7b2b2, libc::PF_R | libc::PF_X),
            load(0x81000, 0x81000, 0x16334, libc::PF_R),
            load(0x981f0, 0x981f0, 0x86df0, libc::PF_R | libc::PF_W),
        ]
    }

    #[test]
    fn only_whole_read_only_pages_are_released() {
        let base = 0x7f00_0000_0000;
        assert_eq!(
            read_only_pages(&tool(), base, 0x1000),
            [(base, base + 0x4000), (base + 0x5000, base + 0x80000), (base + 0x81000, base + 0x97000)]
        );
        // A read-only segment that does not start on a page: its first partial page stays.
        let odd = [load(0x1234, 0, 0x3000, libc::PF_R), load(0x4800, 0x4800, 0x800, libc::PF_R)];
        assert_eq!(read_only_pages(&odd, 0, 0x1000), [(0x2000, 0x4000)]);
    }

    #[test]
    fn the_load_base_is_checked_against_the_kernels_headers() {
        let base = 0x5555_0000_0000;
        assert_eq!(load_base(&tool(), base, base + 0x40), Some(base));
        assert_eq!(load_base(&tool(), base, base + 0x2000_0000), None, "AT_PHDR outside the program");
        assert_eq!(load_base(&tool()[1..], base, base + 0x40), None, "no segment holds the file's start");
        assert_eq!(load_base(&[load(0x40_0000, 0, 0x1000, libc::PF_R)], 0x40_0000, 0x40_0040), Some(0));
    }
}
