//! Small parsers and helpers shared by the client and the daemon: durations, signals, time.

pub mod duration;
#[cfg(test)]
pub mod prop;
pub mod signal;
pub mod size;
pub mod suggest;

/// How messages name an entry: `web (id 3)`, or `id 3` for one without a name.
pub fn label(id: u64, name: &Option<String>) -> String {
    match name {
        Some(n) => format!("{n} (id {id})"),
        None => format!("id {id}"),
    }
}

/// Milliseconds since the Unix epoch, by the wall clock.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Microseconds since the Unix epoch, by the wall clock.
pub fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}
