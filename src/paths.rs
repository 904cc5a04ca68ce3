//! Where wrangle keeps its socket, state and config (SPEC §2), and the ownership and mode
//! checks that keep another user from squatting on them.

use crate::error::{Code, Error, Result};
use std::env;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

/// The resolved locations for one wrangle instance.
#[derive(Debug, Clone)]
pub struct Paths {
    /// The control socket.
    pub socket: PathBuf,
    /// The state folder: registry, logs.
    pub state: PathBuf,
    /// The daemon config file (may not exist).
    pub config: PathBuf,
    /// Whether the socket folder is one wrangle chose and owns outright (must be exactly 0700),
    /// rather than a folder the user named (must merely be theirs and not writable by others).
    socket_dir_is_ours: bool,
}

fn var(name: &str) -> Option<PathBuf> {
    env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

fn home() -> Result<PathBuf> {
    var("HOME").ok_or_else(|| {
        Error::new(
            Code::Failed,
            "HOME is not set; set WRANGLE_HOME to choose where wrangle keeps its files",
        )
    })
}

impl Paths {
    /// Everything under `dir`, as `WRANGLE_HOME=dir` gives (for unit tests).
    #[cfg(test)]
    pub(crate) fn under(dir: &Path) -> Paths {
        Paths {
            socket: dir.join("wrangle.sock"),
            state: dir.to_path_buf(),
            config: dir.join("config.json"),
            socket_dir_is_ours: false,
        }
    }

    /// Resolves paths from the environment; `socket` (from `--socket`) wins over everything.
    pub fn resolve(socket: Option<PathBuf>) -> Result<Paths> {
        let whome = var("WRANGLE_HOME").map(absolute).transpose()?;
        let uid = rustix::process::getuid().as_raw();
        let (socket, socket_dir_is_ours) = match (socket, var("WRANGLE_SOCKET"), &whome) {
            (Some(s), _, _) | (None, Some(s), _) => (absolute(s)?, false),
            (None, None, Some(h)) => (h.join("wrangle.sock"), false),
            (None, None, None) => match var("XDG_RUNTIME_DIR") {
                Some(run) => (run.join("wrangle").join("wrangle.sock"), true),
                None => (
                    PathBuf::from(format!("/tmp/wrangle-{uid}")).join("wrangle.sock"),
                    true,
                ),
            },
        };
        let state = match (var("WRANGLE_STATE_DIR"), &whome) {
            (Some(s), _) => absolute(s)?,
            (None, Some(h)) => h.clone(),
            (None, None) => match var("XDG_STATE_HOME") {
                Some(s) => s.join("wrangle"),
                None => home()?.join(".local/state/wrangle"),
            },
        };
        let config = match (var("WRANGLE_CONFIG"), &whome) {
            (Some(c), _) => absolute(c)?,
            (None, Some(h)) => h.join("config.json"),
            (None, None) => match var("XDG_CONFIG_HOME") {
                Some(c) => c.join("wrangle/config.json"),
                None => home()?.join(".config/wrangle/config.json"),
            },
        };
        // sockaddr_un holds 108 bytes including the NUL.
        if socket.as_os_str().len() > 107 {
            return Err(Error::new(
                Code::Usage,
                format!(
                    "socket path {} is longer than the 107 bytes a Unix socket allows; choose a shorter WRANGLE_HOME or WRANGLE_SOCKET",
                    socket.display()
                ),
            ));
        }
        Ok(Paths {
            socket,
            state,
            config,
            socket_dir_is_ours,
        })
    }

    /// The folder holding the socket.
    pub fn socket_dir(&self) -> &Path {
        self.socket.parent().unwrap_or(Path::new("/"))
    }

    /// Creates the socket folder if needed (0700) and checks it is safe to use.
    pub fn prepare_socket_dir(&self) -> Result<()> {
        ensure_private_dir(self.socket_dir(), self.socket_dir_is_ours)
    }

    /// Checks the socket folder without creating it (for clients): Ok(false) if it is missing.
    pub fn check_socket_dir(&self) -> Result<bool> {
        match std::fs::symlink_metadata(self.socket_dir()) {
            Ok(_) => check_dir(self.socket_dir(), self.socket_dir_is_ours).map(|_| true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::io(
                format!("cannot inspect {}", self.socket_dir().display()),
                e,
            )),
        }
    }
}

fn absolute(p: PathBuf) -> Result<PathBuf> {
    if p.is_absolute() {
        return Ok(p);
    }
    let cwd = env::current_dir().map_err(|e| Error::io("cannot read the current folder", e))?;
    Ok(cwd.join(p))
}

/// Creates `dir` (and parents) with mode 0700 when missing, then checks it with [`check_dir`].
pub fn ensure_private_dir(dir: &Path, strict: bool) -> Result<()> {
    if let Err(e) = std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
    {
        return Err(Error::io(format!("cannot create {}", dir.display()), e));
    }
    check_dir(dir, strict)
}

/// Refuses a folder that is a symlink, not a folder, owned by someone else, or open to others:
/// with `strict` (folders wrangle picked, like `/tmp/wrangle-UID`) any group/other permission
/// is refused; otherwise only group/other write.
pub fn check_dir(dir: &Path, strict: bool) -> Result<()> {
    let md = std::fs::symlink_metadata(dir)
        .map_err(|e| Error::io(format!("cannot inspect {}", dir.display()), e))?;
    let uid = rustix::process::getuid().as_raw();
    let refuse = |why: String| {
        Err(Error::new(
            Code::Failed,
            format!("refusing to use {}: {why}", dir.display()),
        ))
    };
    if md.file_type().is_symlink() {
        return refuse("it is a symbolic link".into());
    }
    if !md.is_dir() {
        return refuse("it is not a folder".into());
    }
    if md.uid() != uid {
        return refuse(format!(
            "it is owned by uid {} and you are uid {uid}; remove it or set WRANGLE_HOME",
            md.uid()
        ));
    }
    let mode = md.mode() & 0o777;
    if strict && mode & 0o077 != 0 {
        return refuse(format!(
            "its mode is {mode:04o} and must be 0700 (chmod 700 {})",
            dir.display()
        ));
    }
    if !strict && mode & 0o022 != 0 {
        return refuse(format!(
            "its mode is {mode:04o}: others may write to it (chmod go-w {})",
            dir.display()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn tmp(name: &str) -> PathBuf {
        let p = env::temp_dir().join(format!("wrangle-paths-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        p
    }

    #[test]
    fn strict_dirs_must_be_0700() {
        let d = tmp("strict");
        ensure_private_dir(&d, true).unwrap();
        assert_eq!(
            std::fs::metadata(&d).unwrap().permissions().mode() & 0o777,
            0o700
        );
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
        let e = check_dir(&d, true).unwrap_err();
        assert!(e.message.contains("0755"), "{}", e.message);
        assert!(check_dir(&d, false).is_ok());
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(check_dir(&d, false).is_err());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn symlinks_are_refused() {
        let d = tmp("real");
        let l = tmp("link");
        ensure_private_dir(&d, true).unwrap();
        std::os::unix::fs::symlink(&d, &l).unwrap();
        let e = check_dir(&l, true).unwrap_err();
        assert!(e.message.contains("symbolic link"), "{}", e.message);
        std::fs::remove_file(&l).unwrap();
        std::fs::remove_dir_all(&d).unwrap();
    }
}
