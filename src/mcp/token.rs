//! The HTTP transport's bearer token: 32 random bytes as hex, made on first use and kept in
//! `mcp-token` in the state folder, readable by the user only (0600).

use crate::error::{Code, Error, Result};
use crate::paths::Paths;
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

pub fn path(paths: &Paths) -> PathBuf {
    paths.state.join("mcp-token")
}

/// The token, made (and saved 0600) if there is none yet.
pub fn load_or_make(paths: &Paths) -> Result<String> {
    let p = path(paths);
    if let Ok(t) = std::fs::read_to_string(&p) {
        let t = t.trim().to_string();
        if t.len() >= 32 {
            return Ok(t);
        }
    }
    crate::paths::ensure_private_dir(&paths.state, false)?;
    let mut raw = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut raw))
        .map_err(|e| Error::io("cannot read /dev/urandom", e))?;
    let token: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    let tmp = p.with_extension(format!("tmp{}", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| Error::io(format!("cannot write {}", tmp.display()), e))?;
    f.write_all(format!("{token}\n").as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(|e| Error::io(format!("cannot write {}", tmp.display()), e))?;
    // Two servers starting at once: the first token saved wins, both use it.
    if std::fs::hard_link(&tmp, &p).is_err() {
        let _ = std::fs::remove_file(&tmp);
        let t = std::fs::read_to_string(&p)
            .map_err(|e| Error::io(format!("cannot read {}", p.display()), e))?;
        return match t.trim() {
            t if t.len() >= 32 => Ok(t.to_string()),
            _ => Err(Error::new(
                Code::Failed,
                format!("{} holds no usable token: delete it", p.display()),
            )),
        };
    }
    let _ = std::fs::remove_file(&tmp);
    Ok(token)
}

/// Compares in time independent of where they differ.
pub fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
