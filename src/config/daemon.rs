//! The daemon's own settings (`config.json`, SPEC §2), today the defaults for logs:
//! `{"logs": {"max_size": "10M", "keep": 9, "runs": 10}}`. Unknown keys and bad values are
//! refused with the file's line and column; a missing file means the defaults.

use crate::error::{Code, Error, Result};
use serde::Deserialize;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogDefaults {
    /// Rotate a run's log at this size (0: never).
    pub max_size: u64,
    /// Rotated segments kept per run.
    pub keep: u32,
    /// Runs whose logs are kept per entry.
    pub runs: u32,
}

impl Default for LogDefaults {
    fn default() -> Self {
        LogDefaults {
            max_size: 10 << 20,
            keep: 9,
            runs: 10,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DaemonConfig {
    pub logs: LogDefaults,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    logs: Option<RawLogs>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLogs {
    #[serde(default)]
    max_size: Option<serde_json::Value>,
    #[serde(default)]
    keep: Option<u32>,
    #[serde(default)]
    runs: Option<u32>,
}

/// Parses config text; `origin` names it in errors.
pub fn parse(text: &str, origin: &str) -> Result<DaemonConfig> {
    let raw: RawConfig = serde_json::from_str(text)
        .map_err(|e| Error::new(Code::Usage, format!("{origin}: {e}")))?;
    let mut cfg = DaemonConfig::default();
    if let Some(l) = raw.logs {
        if let Some(v) = l.max_size {
            cfg.logs.max_size = match &v {
                serde_json::Value::Number(n) => n.as_u64().ok_or_else(|| {
                    Error::new(
                        Code::Usage,
                        format!("{origin}: logs.max_size: {n} is not a size"),
                    )
                })?,
                serde_json::Value::String(s) => crate::util::size::parse(s).map_err(|e| {
                    Error::new(
                        Code::Usage,
                        format!("{origin}: logs.max_size: {}", e.message),
                    )
                })?,
                other => bail!(
                    Code::Usage,
                    "{origin}: logs.max_size: expected a size like \"10M\", found {other}"
                ),
            };
        }
        if let Some(k) = l.keep {
            cfg.logs.keep = k;
        }
        if let Some(r) = l.runs {
            if r == 0 {
                bail!(Code::Usage, "{origin}: logs.runs: keep at least 1 run");
            }
            cfg.logs.runs = r;
        }
    }
    Ok(cfg)
}

/// Loads the config file, or the defaults when it does not exist.
pub fn load(path: &Path) -> Result<DaemonConfig> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse(&text, &path.display().to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(DaemonConfig::default()),
        Err(e) => Err(Error::io(format!("cannot read {}", path.display()), e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_values_and_errors() {
        assert_eq!(parse("{}", "c").unwrap(), DaemonConfig::default());
        let c = parse(r#"{"logs": {"max_size": "1M", "keep": 3, "runs": 4}}"#, "c").unwrap();
        assert_eq!(
            c.logs,
            LogDefaults {
                max_size: 1 << 20,
                keep: 3,
                runs: 4
            }
        );
        assert_eq!(
            parse(r#"{"logs": {"max_size": 0}}"#, "c")
                .unwrap()
                .logs
                .max_size,
            0
        );
        let e = parse("{\n  \"logz\": 1\n}", "cfg.json").unwrap_err();
        assert!(
            e.message.contains("unknown field `logz`") && e.message.contains("line 2"),
            "{}",
            e.message
        );
        let e = parse(r#"{"logs": {"max_size": "big"}}"#, "c").unwrap_err();
        assert!(e.message.contains("logs.max_size"), "{}", e.message);
        assert!(parse(r#"{"logs": {"runs": 0}}"#, "c").is_err());
    }
}
