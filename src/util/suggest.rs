//! "Did you mean …?": the known words closest to a mistyped one, by edit distance (insertions,
//! deletions, substitutions and swaps of neighbours each cost one).

/// The edit distance between `a` and `b`, counting a swap of two neighbouring characters as
/// one edit (`stpo` is one edit from `stop`).
pub fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // Three rows of the dynamic programme: two back, one back, this one.
    let mut prev2: Vec<usize> = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(prev2[j - 2] + 1);
            }
            cur[j] = d;
        }
        std::mem::swap(&mut prev2, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The words of `known` close enough to `typed` to be what was meant, closest first (at most
/// three): within one edit for short words, two for words of five characters or more.
pub fn closest<'a>(typed: &str, known: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let limit = if typed.chars().count() >= 5 { 2 } else { 1 };
    let mut near: Vec<(usize, &str)> = known
        .into_iter()
        .map(|k| (distance(typed, k), k))
        .filter(|&(d, _)| d <= limit)
        .collect();
    near.sort_unstable();
    near.dedup();
    near.into_iter().take(3).map(|(_, k)| k).collect()
}

/// `; did you mean stop?` or `; did you mean web or web2?`, or nothing when no word is close.
pub fn did_you_mean<'a>(typed: &str, known: impl IntoIterator<Item = &'a str>) -> String {
    let near = closest(typed, known);
    match near.as_slice() {
        [] => String::new(),
        [one] => format!("; did you mean {one}?"),
        [init @ .., last] => format!("; did you mean {} or {last}?", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_words() {
        assert_eq!(distance("stpo", "stop"), 1);
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(closest("stpo", ["start", "stop", "status"]), ["stop"]);
        assert_eq!(closest("restrat", ["restart", "resurrect"]), ["restart"]);
        assert!(closest("zzz", ["stop"]).is_empty());
        assert_eq!(
            did_you_mean("webb", ["web", "webs", "db"]),
            "; did you mean web or webs?"
        );
    }
}
