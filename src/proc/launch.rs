//! Starting a program the light way: `clone(CLONE_VM | CLONE_VFORK)` on a stack of its own,
//! as posix_spawn does, rather than a fork that copies the daemon's page tables only for the
//! child to throw them away at `exec`. The parent prepares everything (paths, argv, envp, the
//! descriptors) and is suspended until the child has exec'd or failed; the child, which shares
//! the parent's memory, makes only async-signal-safe system calls on that prepared memory,
//! never allocates and never returns into the parent's code. What goes wrong in it is written
//! to a slot in the shared memory before it exits, and becomes the parent's error.
//!
//! std's `Command` would use posix_spawn itself, but not with a `pre_exec` step (needed here
//! for setsid, the controlling terminal, the signal mask and the open-file limit), nor when
//! the child's PATH differs from the daemon's; so it forks.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicI32, Ordering};

/// The child's stack: its few calls need little, but it costs nothing untouched.
const STACK: usize = 64 * 1024;

/// What the child does before `exec`. Built by the parent; read-only for the child but for
/// `error`.
pub struct Launch {
    /// Paths to try in turn (PATH already searched by the parent, as execvp would in the
    /// child); the first that is not "not found" ends the search.
    candidates: Vec<CString>,
    argv: Vec<CString>,
    envp: Vec<CString>,
    cwd: CString,
    /// The child's standard input, output and error.
    stdio: [OwnedFd; 3],
    /// Makes the terminal on the child's standard input its controlling terminal.
    pub controlling_tty: bool,
    /// The soft RLIMIT_NOFILE for the child (0: leave the daemon's).
    pub nofile: u64,
}

/// Where a failed child says what failed: the step (0 while none has) and its errno.
struct Failure {
    step: AtomicI32,
    errno: AtomicI32,
}

/// The child's steps, as reported in a [`Failure`].
const STEP_STDIO: i32 = 1;
const STEP_SETSID: i32 = 2;
const STEP_CTTY: i32 = 3;
const STEP_CHDIR: i32 = 4;
const STEP_EXEC: i32 = 5;

/// The pointers the child reads, made before the clone.
struct Child<'a> {
    launch: &'a Launch,
    candidates: Vec<*const libc::c_char>,
    argv: Vec<*const libc::c_char>,
    envp: Vec<*const libc::c_char>,
    stdio: [RawFd; 3],
    failure: Failure,
}

fn cstring(what: &str, s: impl Into<Vec<u8>>) -> io::Result<CString> {
    CString::new(s).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{what} holds a NUL byte"),
        )
    })
}

impl Launch {
    /// A launch of `program` with `args` (argv[0] is `program`), environment `env` (in this
    /// order), in folder `cwd`, with `stdio` as its standard streams. A program without a
    /// slash is looked for in the PATH of `env` (or execvp's default without one).
    pub fn new<'a>(
        program: &str,
        args: impl IntoIterator<Item = &'a str>,
        env: impl IntoIterator<Item = (&'a str, &'a str)>,
        cwd: &str,
        stdio: [OwnedFd; 3],
    ) -> io::Result<Launch> {
        let mut argv = vec![cstring("the program", program)?];
        for a in args {
            argv.push(cstring("an argument", a)?);
        }
        let mut envp = Vec::new();
        let mut path = None;
        for (k, v) in env {
            if k == "PATH" {
                path = Some(v);
            }
            envp.push(cstring("the environment", format!("{k}={v}"))?);
        }
        let candidates = if program.contains('/') {
            vec![argv[0].clone()]
        } else {
            // execvp's search, done here: the child's PATH, not the daemon's.
            path.unwrap_or("/usr/local/bin:/bin:/usr/bin")
                .split(':')
                .map(|dir| match dir {
                    "" => cstring("the program", program),
                    d => cstring("PATH", format!("{}/{program}", d.trim_end_matches('/'))),
                })
                .collect::<io::Result<Vec<_>>>()?
        };
        Ok(Launch {
            candidates,
            argv,
            envp,
            cwd: cstring("the working folder", cwd)?,
            stdio,
            controlling_tty: false,
            nofile: 0,
        })
    }

    /// Starts the child in a session of its own; returns its pid once it has exec'd. Its
    /// standard streams are closed in this process afterwards (by dropping `self`).
    pub fn start(self) -> io::Result<i32> {
        // The child's standard streams are dup'ed onto 0, 1 and 2 in turn: none may be one of
        // those numbers already, or an earlier dup2 would overwrite a later one's source.
        let mut low = Vec::new();
        let mut stdio = [0; 3];
        for (i, fd) in self.stdio.iter().enumerate() {
            stdio[i] = if fd.as_raw_fd() < 3 {
                let high = rustix::io::fcntl_dupfd_cloexec(fd, 3)?;
                let raw = high.as_raw_fd();
                low.push(high);
                raw
            } else {
                fd.as_raw_fd()
            };
        }
        let ptrs = |v: &Vec<CString>| -> Vec<*const libc::c_char> {
            v.iter()
                .map(|c| c.as_ptr())
                .chain(std::iter::once(std::ptr::null()))
                .collect()
        };
        let child = Child {
            launch: &self,
            candidates: self.candidates.iter().map(|c| c.as_ptr()).collect(),
            argv: ptrs(&self.argv),
            envp: ptrs(&self.envp),
            stdio,
            failure: Failure {
                step: AtomicI32::new(0),
                errno: AtomicI32::new(0),
            },
        };
        let mut stack: Vec<u8> = Vec::with_capacity(STACK);
        // SAFETY: one past the end of the allocation (the stack grows down on every Linux
        // target we build for), aligned down to 16 bytes as the ABI wants. `stack` outlives
        // the child's use of it (CLONE_VFORK: clone returns only once the child has exec'd or
        // exited); only the child writes it, through this pointer.
        let top = unsafe { stack.as_mut_ptr().add(STACK) };
        let top = (top as usize & !15) as *mut libc::c_void;
        // Every signal is blocked around the clone, so that no handler of the daemon's can
        // run in the child (it would run on the shared memory); the child resets handlers to
        // the default before it unblocks.
        let mut all: libc::sigset_t = unsafe_zeroed_sigset();
        let mut old: libc::sigset_t = unsafe_zeroed_sigset();
        // SAFETY: plain libc calls on sigsets we own.
        unsafe {
            libc::sigfillset(&mut all);
            libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        }
        // SAFETY: `child_main` follows the rules of a vfork child (see it); `child` and
        // `stack` live until clone returns, which with CLONE_VFORK is after the child's exec
        // or exit. SIGCHLD: the event loop reaps it like any child.
        let pid = unsafe {
            libc::clone(
                child_main,
                top,
                libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
                &child as *const Child as *mut libc::c_void,
            )
        };
        let clone_err = io::Error::last_os_error();
        // SAFETY: restores the mask saved above.
        unsafe {
            libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        }
        drop(stack);
        drop(low);
        if pid < 0 {
            return Err(clone_err);
        }
        let step = child.failure.step.load(Ordering::SeqCst);
        if step == 0 {
            return Ok(pid);
        }
        // The child has exited: reap it here, it was never anybody's run.
        let _ = rustix::process::waitpid(
            rustix::process::Pid::from_raw(pid),
            rustix::process::WaitOptions::empty(),
        );
        // As std reports a failed child set-up: the error number alone.
        log::debug!(
            "child set-up failed at step {step} (1 stdio, 2 setsid, 3 terminal, 4 chdir, 5 exec)"
        );
        Err(io::Error::from_raw_os_error(
            child.failure.errno.load(Ordering::SeqCst),
        ))
    }
}

fn unsafe_zeroed_sigset() -> libc::sigset_t {
    // SAFETY: sigset_t is plain data; all zeros is a valid (empty) set.
    unsafe { std::mem::zeroed() }
}

/// The kernel's `struct sigaction` (not libc's, whose layout differs).
#[repr(C)]
struct KernelSigaction {
    handler: usize,
    flags: libc::c_ulong,
    restorer: usize,
    mask: u64,
}

/// The vfork child: shares the parent's memory, runs on its own stack, and may only make
/// system calls (raw, or libc's thin wrappers that at most set errno) on the memory the parent
/// prepared. It never returns: it execs or exits.
extern "C" fn child_main(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the parent's `Child`, alive and unchanged while the parent is
    // suspended (CLONE_VFORK).
    let c = unsafe { &*(arg as *const Child) };
    let fail = |step: i32| -> ! {
        let errno = io::Error::last_os_error().raw_os_error().unwrap_or(0);
        c.failure.errno.store(errno, Ordering::SeqCst);
        c.failure.step.store(step, Ordering::SeqCst);
        // SAFETY: ends the child at once, without running anything of the parent's.
        unsafe { libc::_exit(127) }
    };
    // SAFETY: each call below is a system call on memory prepared by the parent: no
    // allocation, no lock, nothing that is not async-signal-safe.
    unsafe {
        // Caught signals back to the default before any is unblocked (a handler of the
        // daemon's must not run here); SIGPIPE and SIGXFSZ, which the daemon ignores, too.
        for sig in 1..=64 {
            let mut cur = KernelSigaction {
                handler: 0,
                flags: 0,
                restorer: 0,
                mask: 0,
            };
            if libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                std::ptr::null::<KernelSigaction>(),
                &mut cur as *mut KernelSigaction,
                8usize,
            ) != 0
            {
                continue;
            }
            let ignored = cur.handler == libc::SIG_IGN;
            let reset = (cur.handler != libc::SIG_DFL && !ignored)
                || (ignored && (sig == libc::SIGPIPE || sig == libc::SIGXFSZ));
            if reset {
                let dfl = KernelSigaction {
                    handler: libc::SIG_DFL,
                    flags: 0,
                    restorer: 0,
                    mask: 0,
                };
                libc::syscall(
                    libc::SYS_rt_sigaction,
                    sig,
                    &dfl as *const KernelSigaction,
                    std::ptr::null_mut::<KernelSigaction>(),
                    8usize,
                );
            }
        }
        if libc::setsid() < 0 {
            fail(STEP_SETSID);
        }
        for (target, &fd) in c.stdio.iter().enumerate() {
            if libc::dup2(fd, target as libc::c_int) < 0 {
                fail(STEP_STDIO);
            }
        }
        if c.launch.controlling_tty && libc::ioctl(0, libc::TIOCSCTTY, 0) != 0 {
            fail(STEP_CTTY);
        }
        if c.launch.nofile > 0 {
            let mut cur = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            if libc::syscall(
                libc::SYS_prlimit64,
                0,
                libc::RLIMIT_NOFILE,
                std::ptr::null::<libc::rlimit>(),
                &mut cur as *mut libc::rlimit,
            ) == 0
            {
                let lim = libc::rlimit {
                    rlim_cur: (c.launch.nofile as libc::rlim_t).min(cur.rlim_max),
                    rlim_max: cur.rlim_max,
                };
                libc::syscall(
                    libc::SYS_prlimit64,
                    0,
                    libc::RLIMIT_NOFILE,
                    &lim as *const libc::rlimit,
                    std::ptr::null_mut::<libc::rlimit>(),
                );
            }
        }
        if libc::chdir(c.launch.cwd.as_ptr()) != 0 {
            fail(STEP_CHDIR);
        }
        // The daemon blocks the signals it reads from its signalfd; the child must not
        // inherit that mask (a blocked TERM would make every stop wait for KILL).
        let empty: u64 = 0;
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            &empty as *const u64,
            std::ptr::null_mut::<u64>(),
            8usize,
        );
        // execvp's rules: a candidate not found (or not a folder, or not allowed) lets the
        // search go on; any other error ends it; "not allowed" wins over "not found".
        let mut denied = false;
        for &path in &c.candidates {
            libc::execve(path, c.argv.as_ptr(), c.envp.as_ptr());
            match io::Error::last_os_error().raw_os_error() {
                Some(libc::EACCES) => denied = true,
                Some(libc::ENOENT | libc::ENOTDIR) => {}
                _ => fail(STEP_EXEC),
            }
        }
        if denied {
            set_errno(libc::EACCES);
        }
        fail(STEP_EXEC)
    }
}

/// Sets errno (the child reports the search's outcome through it).
fn set_errno(e: i32) {
    // SAFETY: errno is the calling thread's; writing it is what libc itself does.
    unsafe {
        *libc::__errno_location() = e;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn nulls() -> [OwnedFd; 3] {
        let n = || -> OwnedFd { std::fs::File::open("/dev/null").unwrap().into() };
        [n(), n(), n()]
    }

    fn exit_code(pid: i32) -> Option<i32> {
        let (_, st) = rustix::process::waitpid(
            rustix::process::Pid::from_raw(pid),
            rustix::process::WaitOptions::empty(),
        )
        .unwrap()
        .unwrap();
        st.exit_status()
    }

    #[test]
    fn the_program_is_looked_for_in_the_childs_path() {
        let l = Launch::new(
            "true",
            [],
            [("PATH", "/nonexistent:/usr/bin:/bin")],
            "/",
            nulls(),
        );
        assert_eq!(exit_code(l.unwrap().start().unwrap()), Some(0));
        let l = Launch::new("true", [], [("PATH", "/nonexistent")], "/", nulls());
        let err = l.unwrap().start().unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOENT), "{err}");
    }

    #[test]
    fn a_failed_set_up_is_the_callers_error() {
        let l = Launch::new("/bin/true", [], [], "/nonexistent-folder", nulls());
        let err = l.unwrap().start().unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOENT), "{err}");
        // Found but not executable: "permission denied", as execvp says.
        let dir = std::env::temp_dir().join(format!("wrangle-launch-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("prog"), "#!/bin/sh\n").unwrap();
        let path = dir.display().to_string();
        let l = Launch::new("prog", [], [("PATH", path.as_str())], "/", nulls());
        let err = l.unwrap().start().unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EACCES), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
        let err = Launch::new("a\0b", [], [], "/", nulls()).err().unwrap();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn the_child_gets_its_streams_a_session_and_no_blocked_signal() {
        let (r, w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).unwrap();
        let null: OwnedFd = std::fs::File::open("/dev/null").unwrap().into();
        let err = w.try_clone().unwrap();
        let script = "grep SigBlk /proc/self/status; read -r _ _ _ _ _ s _ </proc/$$/stat; \
                      echo sid=$s pid=$$; echo files=$(ulimit -n); echo $X";
        let mut l = Launch::new(
            "sh",
            ["-c", script],
            [("PATH", "/usr/bin:/bin"), ("X", "y z")],
            "/",
            [null, w, err],
        )
        .unwrap();
        l.nofile = 64;
        // Blocked here, as the daemon blocks what its signalfd reads.
        let mut set = unsafe_zeroed_sigset();
        let mut old = unsafe_zeroed_sigset();
        // SAFETY: plain libc calls on sigsets we own; the mask is restored below.
        unsafe {
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGTERM);
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old);
        }
        let pid = l.start().unwrap();
        // SAFETY: restores the mask saved above.
        unsafe {
            libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        }
        let mut out = String::new();
        std::fs::File::from(r).read_to_string(&mut out).unwrap();
        assert_eq!(exit_code(pid), Some(0));
        assert!(out.contains("SigBlk:\t0000000000000000"), "{out}");
        assert!(out.contains(&format!("sid={pid} pid={pid}")), "{out}");
        assert!(out.contains("files=64\n"), "{out}");
        assert!(out.ends_with("y z\n"), "{out}");
    }
}
