//! Byte searching for the log readers: the memchr crate's SIMD `memchr`, under the name the
//! line splitters use.

pub use memchr::memchr;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memchr_agrees_with_naive_search() {
        let hay: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 251) as u8).collect();
        for needle in [0u8, 7, 250, 255] {
            assert_eq!(memchr(needle, &hay), hay.iter().position(|&b| b == needle));
        }
        assert_eq!(memchr(b'\n', b"0123456789abcdef\n"), Some(16));
    }
}
