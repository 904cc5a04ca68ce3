//! Man pages as the docs tests read them: cut into `.SH` sections and their `.SS`
//! subsections.

/// (section, subsection or "", text) in the page's order; text before the first heading is
/// the first part, with empty names.
pub fn parts(text: &str) -> Vec<(String, String, String)> {
    let mut parts = vec![(String::new(), String::new(), String::new())];
    for line in text.lines() {
        let heading = |m: &str| {
            line.strip_prefix(m)
                .filter(|rest| rest.starts_with([' ', '\t']))
                .map(|rest| rest.trim().trim_matches('"').to_string())
        };
        if let Some(sh) = heading(".SH") {
            parts.push((sh, String::new(), String::new()));
        } else if let Some(ss) = heading(".SS") {
            let sh = parts.last().map(|p| p.0.clone()).unwrap_or_default();
            parts.push((sh, ss, String::new()));
        } else {
            let last = parts.last_mut().expect("a part");
            last.2.push_str(line);
            last.2.push('\n');
        }
    }
    parts
}
