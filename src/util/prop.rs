//! A small deterministic generator for property tests (test builds only): xorshift64* from a
//! seed, with the few draws the tests need. Each property runs from fixed seeds, so a failure
//! names the seed that replays it; `WRANGLE_PROP_CASES` raises the number of cases.

/// The generator.
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (0 is replaced, xorshift cannot leave it).
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn word(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n` (0 when n is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.word() % n as u64) as usize
        }
    }

    /// True once in `n` draws on average.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// `n` arbitrary bytes.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.word() as u8).collect()
    }

    /// `text` with one to four edits: a character dropped, doubled or replaced by one of
    /// `alphabet`, or a piece of `alphabet` inserted; always valid UTF-8.
    pub fn edit(&mut self, text: &str, alphabet: &[&str]) -> String {
        let mut s = text.to_string();
        for _ in 0..=self.below(4) {
            let bounds: Vec<usize> = s.char_indices().map(|(i, _)| i).chain([s.len()]).collect();
            let at = *self.pick(&bounds);
            let next = s[at..].chars().next().map_or(at, |c| at + c.len_utf8());
            let piece = *self.pick(alphabet);
            match self.below(4) {
                0 => s.replace_range(at..next, ""),
                1 => {
                    let c = s[at..next].to_string();
                    s.insert_str(at, &c)
                }
                2 => s.replace_range(at..next, piece),
                _ => s.insert_str(at, piece),
            }
        }
        s
    }
}

/// How many cases a property runs: `default`, or `WRANGLE_PROP_CASES`.
pub fn cases(default: usize) -> usize {
    std::env::var("WRANGLE_PROP_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}
