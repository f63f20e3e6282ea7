//! A pseudo-terminal for tests of what users do at a terminal: Ctrl-C,
//! Ctrl-Z, `fg`. The command becomes a session leader with the pty as its
//! controlling terminal.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Pty {
    master: File,
    pub child: Child,
    pub seen: String,
}

impl Pty {
    pub fn spawn(mut cmd: Command) -> Self {
        let (mut master, mut slave) = (-1, -1);
        // SAFETY: openpty fills two descriptors; the name and termios/winsize pointers may be null.
        let rc =
            unsafe { libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), std::ptr::null()) };
        assert_eq!(rc, 0, "openpty failed");
        // SAFETY: fresh descriptors that we own from here on.
        let (master, slave) = unsafe { (File::from_raw_fd(master), File::from_raw_fd(slave)) };
        let slave_fd = slave.as_raw_fd();
        cmd.stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave));
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setsid() == -1 || libc::ioctl(0, libc::TIOCSCTTY, 0) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                let _ = slave_fd;
                Ok(())
            });
        }
        let child = cmd.spawn().expect("spawn on a pty");
        // SAFETY: setting O_NONBLOCK on our own descriptor.
        unsafe {
            let flags = libc::fcntl(master.as_raw_fd(), libc::F_GETFL);
            libc::fcntl(master.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK);
        }
        Self { master, child, seen: String::new() }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.master.write_all(bytes).expect("write to pty");
    }

    /// Read until `needle` shows up in the output (after what was already
    /// matched), or panic after `secs` seconds with what was seen.
    pub fn expect(&mut self, needle: &str, secs: u64) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(at) = self.seen.find(needle) {
                // Consume through the match, so the next expect looks further on.
                let end = at + needle.len();
                self.seen = self.seen[end..].to_owned();
                return;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {needle:?}; output so far:\n{}", self.seen);
            let mut buf = [0u8; 4096];
            match self.master.read(&mut buf) {
                Ok(0) => std::thread::sleep(Duration::from_millis(10)),
                Ok(n) => self.seen.push_str(&String::from_utf8_lossy(&buf[..n])),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(10)),
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    }

    /// Wait for the command, draining the terminal meanwhile.
    pub fn wait(self, secs: u64) -> std::process::ExitStatus {
        self.wait_output(secs).0
    }

    /// [`Pty::wait`], and what it printed after the last match.
    pub fn wait_output(mut self, secs: u64) -> (std::process::ExitStatus, String) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let mut buf = [0u8; 4096];
            while let Ok(n) = self.master.read(&mut buf) {
                if n == 0 {
                    break;
                }
                self.seen.push_str(&String::from_utf8_lossy(&buf[..n]));
            }
            if let Some(status) = self.child.try_wait().expect("wait") {
                return (status, std::mem::take(&mut self.seen));
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("command did not end; output:\n{}", self.seen);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
