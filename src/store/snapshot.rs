//! Atomic state files: write to a temp file, fsync, rename, fsync the folder. A file that
//! fails to parse is moved aside as `NAME.corrupt-<unix time>` and reported, never deleted.

use crate::error::{Code, Error, Result};
use serde::de::DeserializeOwned;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Writes `data` to `path` atomically with mode 0600. With `durable`, the data and the
/// folder are fsynced before returning; without, the file is whole or absent after a crash of
/// this process (page cache), and a later sync makes it durable.
pub fn write_atomic(path: &Path, data: &[u8], durable: bool) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .custom_flags(libc::O_CLOEXEC)
            .open(&tmp)?;
        f.write_all(data)?;
        if durable {
            f.sync_all()?;
        }
        fs::rename(&tmp, path)?;
        if durable {
            File::open(dir)?.sync_all()?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// The outcome of loading a state file.
#[derive(Debug)]
pub enum Loaded<T> {
    /// No file yet.
    Missing,
    Parsed(T),
    /// The file did not parse; it was moved to `moved_to`.
    Corrupt {
        moved_to: PathBuf,
        error: String,
    },
}

/// Moves a corrupt file to `NAME.corrupt-<unix time>` (`.2`, `.3`, … after it when that name
/// is taken: an earlier corrupt copy is never overwritten). Returns the new path.
pub fn move_aside(path: &Path) -> std::io::Result<PathBuf> {
    let base = format!(
        "{}.corrupt-{}",
        path.display(),
        crate::util::now_ms() / 1000
    );
    for n in 1..10_000u32 {
        let to = match n {
            1 => PathBuf::from(&base),
            n => PathBuf::from(format!("{base}.{n}")),
        };
        // A link fails rather than replace an existing file; then the old name goes.
        match fs::hard_link(path, &to) {
            Ok(()) => {
                fs::remove_file(path)?;
                return Ok(to);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::AlreadyExists,
        "too many corrupt copies already",
    ))
}

/// Loads a JSON state file, moving it aside if it does not parse.
pub fn load_json<T: DeserializeOwned>(path: &Path) -> Result<Loaded<T>> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Loaded::Missing),
        Err(e) => return Err(Error::io(format!("cannot read {}", path.display()), e)),
    };
    match serde_json::from_slice::<T>(&bytes) {
        Ok(v) => Ok(Loaded::Parsed(v)),
        Err(e) => {
            let moved_to = move_aside(path).map_err(|re| {
                Error::new(
                    Code::Failed,
                    format!(
                        "{} does not parse ({e}) and could not be moved aside: {re}",
                        path.display()
                    ),
                )
            })?;
            Ok(Loaded::Corrupt {
                moved_to,
                error: e.to_string(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn writes_0600_and_moves_corrupt_files_aside() {
        let dir = std::env::temp_dir().join(format!("wrangle-snap-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let p = dir.join("x.json");
        assert!(matches!(load_json::<u32>(&p).unwrap(), Loaded::Missing));
        write_atomic(&p, b"42", true).unwrap();
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(matches!(load_json::<u32>(&p).unwrap(), Loaded::Parsed(42)));
        fs::write(&p, b"{not json").unwrap();
        let Loaded::Corrupt { moved_to, .. } = load_json::<u32>(&p).unwrap() else {
            panic!("corrupt file not reported")
        };
        assert!(!p.exists());
        assert_eq!(fs::read(&moved_to).unwrap(), b"{not json");
        fs::remove_dir_all(&dir).unwrap();
    }
}
