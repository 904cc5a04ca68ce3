//! Which size a terminal entry's terminal takes when several clients are attached: that of
//! the most recent interactive client (the last to attach or to resize its window); when it
//! leaves, that of the one before. Read-only viewers never resize a terminal.

use super::state::Daemon;
use mio::Token;

/// An interactive attach and its window size, most recent last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sizer {
    pub(crate) conn: Token,
    pub(crate) req: u32,
    pub(crate) size: [u16; 2],
}

impl Daemon {
    /// Interactive attach `req` of `conn` to `id` has a window of `size` (it attached, or its
    /// window changed): it is the most recent client, and the terminal takes its size.
    pub(super) fn sizer_active(&mut self, id: u64, conn: Token, req: u32, size: [u16; 2]) {
        let list = self.sizers.entry(id).or_default();
        list.retain(|s| !(s.conn == conn && s.req == req));
        list.push(Sizer { conn, req, size });
        let _ = self.resize_entry(id, size);
    }

    /// A resize of `id` asked for by connection `conn`: if it is an interactive attach's
    /// (its client's window changed), that attach becomes the most recent.
    pub(super) fn sizer_resized(&mut self, id: u64, conn: Token, size: [u16; 2]) {
        let found = self
            .sizers
            .get(&id)
            .and_then(|l| l.iter().rev().find(|s| s.conn == conn).map(|s| s.req));
        if let Some(req) = found {
            let list = self.sizers.entry(id).or_default();
            list.retain(|s| !(s.conn == conn && s.req == req));
            list.push(Sizer { conn, req, size });
        }
    }

    /// Attaches of connection `conn` (only request `req`, if given) are gone: where the most
    /// recent one left, the terminal takes the size of the one before.
    pub(super) fn sizers_gone(&mut self, conn: Token, req: Option<u32>) {
        let mut apply = Vec::new();
        for (id, list) in self.sizers.iter_mut() {
            let last = list.last().copied();
            list.retain(|s| !(s.conn == conn && req.is_none_or(|r| r == s.req)));
            if list.last().copied() != last {
                if let Some(s) = list.last() {
                    apply.push((*id, s.size));
                }
            }
        }
        self.sizers.retain(|_, l| !l.is_empty());
        for (id, size) in apply {
            let _ = self.resize_entry(id, size);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizer_equality() {
        let a = Sizer {
            conn: Token(1),
            req: 2,
            size: [3, 4],
        };
        assert_eq!(a, a);
        assert_ne!(a, Sizer { req: 3, ..a });
    }
}
