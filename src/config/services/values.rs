//! The typed readers of a services file's values (strings, command lines, numbers,
//! durations, labels) and the messages that name the file, line, column and key path of what
//! is wrong.

use super::*;

impl Loader<'_> {
    pub(super) fn err(&self, line: u32, col: u32, path: &str, msg: impl Display) -> Error {
        Error::new(
            Code::Usage,
            format!("{}:{line}:{col}: {path}: {msg}", self.file),
        )
    }

    pub(super) fn at(&self, v: &Value, path: &str, msg: impl Display) -> Error {
        self.err(v.line, v.col, path, msg)
    }

    pub(super) fn at_key(&self, k: &Key, path: &str, msg: impl Display) -> Error {
        self.err(k.line, k.col, path, msg)
    }

    pub(super) fn wrong_type(&self, v: &Value, path: &str, expected: &str) -> Error {
        self.at(
            v,
            path,
            format!("expected {expected}, found {}", v.type_name()),
        )
    }

    pub(super) fn unknown_key(&self, k: &Key, path: &str, allowed: &[&str]) -> Error {
        let hint = match suggest(&k.name, allowed) {
            Some(s) => format!(", did you mean {s:?}?"),
            None => String::new(),
        };
        self.at_key(
            k,
            path,
            format!(
                "unknown key{hint} (expected one of: {})",
                allowed.join(", ")
            ),
        )
    }

    // ----- typed values -----

    /// An object whose keys are all in `allowed`.
    pub(super) fn object<'v>(
        &self,
        v: &'v Value,
        path: &str,
        allowed: &[&str],
        expected: &str,
    ) -> Result<&'v [(Key, Value)]> {
        let members = v
            .as_object()
            .ok_or_else(|| self.wrong_type(v, path, expected))?;
        for (k, _) in members {
            if !allowed.contains(&k.name.as_str()) {
                return Err(self.unknown_key(k, &child(path, &k.name), allowed));
            }
        }
        Ok(members)
    }

    pub(super) fn string<'v>(&self, v: &'v Value, path: &str, expected: &str) -> Result<&'v str> {
        v.as_str().ok_or_else(|| self.wrong_type(v, path, expected))
    }

    /// A string that can go on a command line or into the environment (no NUL).
    pub(super) fn text<'v>(&self, v: &'v Value, path: &str, expected: &str) -> Result<&'v str> {
        let s = self.string(v, path, expected)?;
        if s.contains('\0') {
            return Err(self.at(
                v,
                path,
                "contains a NUL character, which cannot be passed to a process",
            ));
        }
        Ok(s)
    }

    /// A non-empty array of strings (an argv).
    pub(super) fn argv(&self, v: &Value, path: &str, expected: &str) -> Result<Vec<String>> {
        let items = v
            .as_array()
            .ok_or_else(|| self.wrong_type(v, path, expected))?;
        if items.is_empty() {
            return Err(self.at(v, path, "must not be empty (the first item is the program)"));
        }
        let mut out = Vec::with_capacity(items.len());
        for (i, it) in items.iter().enumerate() {
            let s = self.text(it, &item(path, i), "a string")?;
            if i == 0 && s.is_empty() {
                return Err(self.at(it, &item(path, i), "the program name is empty"));
            }
            out.push(s.to_string());
        }
        Ok(out)
    }

    pub(super) fn bool(&self, v: &Value, path: &str) -> Result<bool> {
        v.as_bool()
            .ok_or_else(|| self.wrong_type(v, path, "true or false"))
    }

    /// A whole number from 0 to `max`.
    pub(super) fn uint(&self, v: &Value, path: &str, max: u64) -> Result<u64> {
        let expected = format!("a whole number from 0 to {max}");
        let n = v
            .as_number()
            .ok_or_else(|| self.wrong_type(v, path, &expected))?;
        match n.as_u64() {
            Some(x) if x <= max => Ok(x),
            _ => Err(self.at(v, path, format!("expected {expected}, found {}", n.text))),
        }
    }

    /// A duration: a string such as `"5s"` or a non-negative number of seconds; in ms.
    pub(super) fn duration_ms(&self, v: &Value, path: &str) -> Result<u64> {
        let expected =
            "a duration such as \"250ms\", \"5s\", \"2m\", \"1h\" or a number of seconds";
        if let Some(s) = v.as_str() {
            let d = duration::parse(s).map_err(|e| self.at(v, path, e.message))?;
            return Ok(u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        }
        let n = v
            .as_number()
            .ok_or_else(|| self.wrong_type(v, path, expected))?;
        if !(0.0..=MAX_SECONDS).contains(&n.value) {
            return Err(self.at(
                v,
                path,
                format!(
                    "expected {expected}, found {} (it must be from 0 to {MAX_SECONDS})",
                    n.text
                ),
            ));
        }
        Ok((n.value * 1000.0).round() as u64)
    }

    /// An array of strings, each checked as a tag or group label; duplicates dropped.
    pub(super) fn labels(&self, v: &Value, path: &str, kind: &str) -> Result<Vec<String>> {
        let expected = format!("an array of {kind}s (strings)");
        let items = v
            .as_array()
            .ok_or_else(|| self.wrong_type(v, path, &expected))?;
        let mut out: Vec<String> = Vec::new();
        for (i, it) in items.iter().enumerate() {
            let p = item(path, i);
            let s = self.string(it, &p, "a string")?;
            validate_label(kind, s).map_err(|e| self.at(it, &p, e.message))?;
            if !out.iter().any(|o| o == s) {
                out.push(s.to_string());
            }
        }
        Ok(out)
    }
}
