//! A private tmux server for the tests that need a real terminal (attach, `top`, screens, `ls`
//! in an 80-column pane): sessions that run with the test instance's environment, and what a
//! pane shows. Each test file adds the methods only it needs in its own `impl Tmux`.

use super::{Wr, MARKER};
use std::process::Command;

pub struct Tmux {
    pub sock: String,
}

impl Tmux {
    /// A tmux server of its own, its socket under the test's folder (several per test are
    /// fine).
    pub fn new(wr: &Wr) -> Tmux {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Tmux {
            sock: wr.root.join(format!("tmux{n}")).display().to_string(),
        }
    }

    /// Runs `tmux ARGS` against this server; its standard output.
    pub fn run(&self, args: &[&str]) -> String {
        let o = Command::new("tmux")
            .arg("-S")
            .arg(&self.sock)
            .args(args)
            .output()
            .expect("run tmux (apt-get install tmux)");
        assert!(o.status.success(), "tmux {args:?}: {o:?}");
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Shell assignments that give a command the instance's environment (its home and the
    /// marker the last-resort cleanup looks for).
    pub fn env(wr: &Wr) -> String {
        format!(
            "WRANGLE_HOME='{}' {MARKER}='{}'",
            wr.home().display(),
            wr.root.display()
        )
    }

    /// A detached session `name`, `rows` x `cols`, running `script` in sh.
    pub fn session(&self, name: &str, rows: u16, cols: u16, script: &str) {
        self.run(&[
            "new-session",
            "-d",
            "-s",
            name,
            "-x",
            &cols.to_string(),
            "-y",
            &rows.to_string(),
            script,
        ]);
    }

    /// What pane `target` shows now.
    pub fn capture(&self, target: &str) -> String {
        self.run(&["capture-pane", "-p", "-t", target])
    }
}

/// The server goes with the test.
impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .arg("-S")
            .arg(&self.sock)
            .arg("kill-server")
            .output();
    }
}
