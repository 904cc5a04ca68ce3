//! When a stop sends KILL. A stop asked for while another is under way (a second `stop` with a
//! shorter `--timeout`, or `rm`, `restart`, `shutdown`) can bring the KILL earlier, never later:
//! the earliest deadline wins. Once KILL was sent there is nothing left to move.

use std::time::Instant;

/// The KILL deadline of a stop under way: `current` is when KILL is due, or None once it was
/// sent. Returns the new deadline when `asked` (the deadline the new stop would have on its
/// own) comes first; None when nothing changes.
pub(super) fn earlier(current: Option<Instant>, asked: Instant) -> Option<Instant> {
    match current {
        Some(at) if asked < at => Some(asked),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_earliest_deadline_wins() {
        let now = Instant::now();
        let thirty = now + Duration::from_secs(30);
        let one = now + Duration::from_secs(1);
        assert_eq!(earlier(Some(thirty), one), Some(one));
        // A later or equal deadline changes nothing.
        assert_eq!(earlier(Some(one), thirty), None);
        assert_eq!(earlier(Some(one), one), None);
    }

    #[test]
    fn nothing_moves_once_killed() {
        let now = Instant::now();
        assert_eq!(earlier(None, now), None);
    }
}
