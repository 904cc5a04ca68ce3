//! The line format of the registry's snapshot and journal files. Every record is one line,
//! `CRC BODY\n`, where CRC is the CRC-32 (IEEE) of BODY in 8 lowercase hex digits, and BODY
//! never holds a newline (entries are compact JSON, which escapes them). A crash in the middle
//! of a write leaves a last line that is cut short or fails its CRC (a torn tail: dropped); a
//! bad line with good lines after it is corruption. Bodies:
//!
//! - `H wrangle-snapshot FORMAT GEN` / `H wrangle-journal FORMAT GEN`: the first line;
//! - `N ID`: the next id to hand out;
//! - `E ID JSON`: entry ID is now JSON (the whole entry, not a change to it);
//! - `R ID`: entry ID was removed.

use super::registry::Entry;
use std::io;

/// The format these files are written in (format 2 was `registry.json` + `entries/ID.json`).
pub const FORMAT: u32 = 3;
pub const SNAPSHOT_MAGIC: &str = "wrangle-snapshot";
pub const JOURNAL_MAGIC: &str = "wrangle-journal";

const fn crc_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
}

static CRC_TABLE: [u32; 256] = crc_table();

/// CRC-32 as in zlib, gzip and PNG (reflected polynomial 0xEDB88320).
pub fn crc32(data: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in data {
        c = CRC_TABLE[((c ^ b as u32) & 0xff) as usize] ^ (c >> 8);
    }
    !c
}

/// Appends one framed line whose body `body` writes.
fn frame(out: &mut Vec<u8>, body: impl FnOnce(&mut Vec<u8>) -> io::Result<()>) -> io::Result<()> {
    let start = out.len();
    out.extend_from_slice(b"00000000 ");
    if let Err(e) = body(out) {
        out.truncate(start);
        return Err(e);
    }
    let crc = crc32(&out[start + 9..]);
    out[start..start + 8].copy_from_slice(format!("{crc:08x}").as_bytes());
    out.push(b'\n');
    Ok(())
}

pub fn header(out: &mut Vec<u8>, magic: &str, gen: u64) {
    let _ = frame(out, |b| {
        b.extend_from_slice(format!("H {magic} {FORMAT} {gen}").as_bytes());
        Ok(())
    });
}

pub fn next_id(out: &mut Vec<u8>, next: u64) {
    let _ = frame(out, |b| {
        b.extend_from_slice(format!("N {next}").as_bytes());
        Ok(())
    });
}

pub fn entry(out: &mut Vec<u8>, e: &Entry) -> io::Result<()> {
    frame(out, |b| {
        b.extend_from_slice(format!("E {} ", e.id).as_bytes());
        serde_json::to_writer(&mut *b, e).map_err(io::Error::other)
    })
}

/// Appends a record whose body was read from another file.
pub fn raw(out: &mut Vec<u8>, body: &[u8]) {
    let _ = frame(out, |b| {
        b.extend_from_slice(body);
        Ok(())
    });
}

pub fn removed(out: &mut Vec<u8>, id: u64) {
    let _ = frame(out, |b| {
        b.extend_from_slice(format!("R {id}").as_bytes());
        Ok(())
    });
}

/// One record's body, parsed.
#[derive(Debug, PartialEq)]
pub enum Record<'a> {
    Header {
        magic: &'a str,
        format: u32,
        gen: u64,
    },
    NextId(u64),
    Entry {
        id: u64,
        json: &'a [u8],
    },
    Removed(u64),
}

fn number<T: std::str::FromStr>(b: &[u8]) -> Option<T> {
    std::str::from_utf8(b).ok()?.parse().ok()
}

/// Parses a body whose CRC matched; None if it is not a record of this format.
pub fn parse(body: &[u8]) -> Option<Record<'_>> {
    let (kind, rest) = (body.first()?, body.get(2..)?);
    if body.get(1) != Some(&b' ') {
        return None;
    }
    match kind {
        b'H' => {
            let text = std::str::from_utf8(rest).ok()?;
            let mut words = text.split(' ');
            let (magic, format, gen) = (words.next()?, words.next()?, words.next()?);
            if words.next().is_some() {
                return None;
            }
            Some(Record::Header {
                magic,
                format: format.parse().ok()?,
                gen: gen.parse().ok()?,
            })
        }
        b'N' => Some(Record::NextId(number(rest)?)),
        b'R' => Some(Record::Removed(number(rest)?)),
        b'E' => {
            let sp = rest.iter().position(|&c| c == b' ')?;
            Some(Record::Entry {
                id: number(&rest[..sp])?,
                json: &rest[sp + 1..],
            })
        }
        _ => None,
    }
}

/// What a file's bytes hold, line by line.
#[derive(Debug, Default)]
pub struct Scan<'a> {
    /// The bodies of the lines whose CRC matched, in order.
    pub bodies: Vec<&'a [u8]>,
    /// Lines that failed with good lines after them: the file is corrupt.
    pub bad: usize,
    /// The number of the first such line (1-based).
    pub first_bad: Option<usize>,
    /// Where the good part ends: after it there are only bad bytes (a torn tail), if any.
    pub good_len: usize,
}

impl Scan<'_> {
    /// Bytes after the last good line (a write cut short by a crash).
    pub fn torn(&self, total: usize) -> bool {
        self.good_len < total
    }
}

/// Splits `data` into lines and checks each line's CRC.
pub fn scan(data: &[u8]) -> Scan<'_> {
    let mut s = Scan::default();
    // Bad lines since the last good one: corruption if a good line follows, else a torn tail.
    let mut pending_bad: Option<usize> = None;
    let mut pending = 0;
    let mut pos = 0;
    let mut line_no = 0;
    while pos < data.len() {
        line_no += 1;
        let (line, next) = match data[pos..].iter().position(|&c| c == b'\n') {
            Some(n) => (Some(&data[pos..pos + n]), pos + n + 1),
            None => (None, data.len()),
        };
        match line.and_then(check) {
            Some(body) => {
                if let Some(first) = pending_bad.take() {
                    s.first_bad.get_or_insert(first);
                }
                s.bad += std::mem::take(&mut pending);
                s.bodies.push(body);
                s.good_len = next;
            }
            None => {
                pending_bad.get_or_insert(line_no);
                pending += 1;
            }
        }
        pos = next;
    }
    s
}

/// The body of a line whose CRC matches.
fn check(line: &[u8]) -> Option<&[u8]> {
    if line.len() < 9 || line[8] != b' ' {
        return None;
    }
    let want = u32::from_str_radix(std::str::from_utf8(&line[..8]).ok()?, 16).ok()?;
    let body = &line[9..];
    (crc32(body) == want).then_some(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(body: &str) -> Vec<u8> {
        let mut out = Vec::new();
        frame(&mut out, |b| {
            b.extend_from_slice(body.as_bytes());
            Ok(())
        })
        .unwrap();
        out
    }

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
        assert_eq!(
            line("N 7"),
            format!("{:08x} N 7\n", crc32(b"N 7")).into_bytes()
        );
    }

    #[test]
    fn records_parse_back() {
        let mut out = Vec::new();
        header(&mut out, JOURNAL_MAGIC, 9);
        next_id(&mut out, 12);
        removed(&mut out, 4);
        out.extend(line("E 5 {\"a\": 1}"));
        let s = scan(&out);
        assert_eq!((s.bad, s.good_len), (0, out.len()));
        let recs: Vec<Record> = s.bodies.iter().map(|b| parse(b).unwrap()).collect();
        assert_eq!(
            recs,
            [
                Record::Header {
                    magic: JOURNAL_MAGIC,
                    format: FORMAT,
                    gen: 9
                },
                Record::NextId(12),
                Record::Removed(4),
                Record::Entry {
                    id: 5,
                    json: b"{\"a\": 1}"
                },
            ]
        );
        for bad in ["X 1", "N", "N x", "E 5", "H a 1", "R  1", "N1"] {
            assert_eq!(parse(bad.as_bytes()), None, "{bad:?}");
        }
    }

    #[test]
    fn a_torn_tail_is_told_from_corruption_in_the_middle() {
        let (a, b, c) = (line("N 1"), line("N 2"), line("N 3"));
        let whole = [a.clone(), b.clone(), c.clone()].concat();
        // Cut short at every byte of the last line: a torn tail, the rest is good.
        for cut in 0..c.len() {
            let data = &whole[..a.len() + b.len() + cut];
            let s = scan(data);
            assert_eq!((s.bodies.len(), s.bad), (2, 0), "cut {cut}");
            assert_eq!(s.good_len, a.len() + b.len());
            assert_eq!(s.torn(data.len()), cut > 0);
        }
        // A flipped byte in the last line: also a tail (it cannot be told from a torn write).
        let mut last = whole.clone();
        let n = last.len() - 2;
        last[n] ^= 1;
        let s = scan(&last);
        assert_eq!((s.bodies.len(), s.bad), (2, 0));
        assert!(s.torn(last.len()));
        // The same in the middle line: corruption, and the lines around it still count.
        let mut mid = whole.clone();
        mid[a.len() + 3] ^= 0x20;
        let s = scan(&mid);
        assert_eq!((s.bodies.len(), s.bad, s.first_bad), (2, 1, Some(2)));
        assert_eq!(s.bodies, [&a[9..a.len() - 1], &c[9..c.len() - 1]]);
        assert!(!s.torn(mid.len()));
        // Zeros where a crash left the end of the file unwritten.
        let mut zeros = whole.clone();
        zeros.extend([0u8; 100]);
        let s = scan(&zeros);
        assert_eq!((s.bodies.len(), s.bad, s.good_len), (3, 0, whole.len()));
    }
}
