//! One way to run a service (a [`Variant`]): its keys read into a run, for the base or for a
//! profile on top of it, with their nested objects (`backoff`, `ready`), and `direnv` wrapping.

use super::*;

impl Loader<'_> {
    /// One way to run the service, from its keys (the base's, or the base's with a profile's
    /// on top). A null value means the key's default.
    pub(super) fn variant(&self, name: &str, fields: &[Field], anchor: &Anchor) -> Result<Variant> {
        let mut command: Option<(&Field, Vec<String>, bool)> = None;
        let mut cwd = self.dir.clone();
        let mut env_file: Vec<(String, String)> = Vec::new();
        let mut env: Vec<(String, String)> = Vec::new();
        let mut direnv = true;
        let mut build: Option<BuildSpec> = None;
        let mut spec = RunSpec::new(Vec::new(), String::new());
        spec.restart = Restart::Always;
        let mut ready = Ready::default();
        let mut log_timestamps = false;

        for f in fields {
            let (v, p) = (f.value, f.path.as_str());
            if v.is_null() {
                continue;
            }
            match f.key.name.as_str() {
                key @ ("cmd" | "shell") => {
                    if let Some((other, ..)) = &command {
                        return Err(self.at_key(
                            f.key,
                            p,
                            format!(
                                "both \"cmd\" and \"shell\" are given (at {}:{}); keep one: cmd for an argv, shell for a command line run by sh -c",
                                other.key.line, other.key.col
                            ),
                        ));
                    }
                    if key == "cmd" {
                        let argv = self.argv(v, p, "an array of strings (the program and its arguments; use \"shell\" for a command line)")?;
                        command = Some((f, argv, false));
                    } else {
                        let s = self.text(
                            v,
                            p,
                            "a string (a command line run by sh -c; use \"cmd\" for an argv array)",
                        )?;
                        if s.trim().is_empty() {
                            return Err(self.at(v, p, "the command line is empty"));
                        }
                        command = Some((f, vec![s.to_string()], true));
                    }
                }
                "cwd" => {
                    let s = self.text(v, p, "a folder (relative to the services file's folder)")?;
                    if s.is_empty() {
                        return Err(self.at(
                            v,
                            p,
                            "the folder is empty (use \".\" for the services file's folder)",
                        ));
                    }
                    cwd = normalize(&self.dir.join(s));
                }
                "env" => {
                    let members = v.as_object().ok_or_else(|| {
                        self.wrong_type(v, p, "an object of variables (name → value)")
                    })?;
                    for (k, val) in members {
                        let kp = child(p, &k.name);
                        if k.name.is_empty() || k.name.contains(['=', '\0']) {
                            return Err(self.at_key(
                                k,
                                &kp,
                                "invalid variable name (it must be non-empty, without '=' or NUL)",
                            ));
                        }
                        let text = match &val.kind {
                            json::Kind::String(_) => self.text(val, &kp, "a string")?.to_string(),
                            json::Kind::Number(n) => n.text.clone(),
                            json::Kind::Bool(b) => b.to_string(),
                            _ => {
                                return Err(self.wrong_type(
                                    val,
                                    &kp,
                                    "a string, number or boolean",
                                ))
                            }
                        };
                        env.push((k.name.clone(), text));
                    }
                }
                "env_file" => {
                    if let Some(items) = v.as_array() {
                        for (i, it) in items.iter().enumerate() {
                            env_file.extend(self.env_file(it, &item(p, i))?);
                        }
                    } else if v.as_str().is_some() {
                        env_file.extend(self.env_file(v, p)?);
                    } else {
                        return Err(self.wrong_type(v, p, "a file name or an array of file names"));
                    }
                }
                "direnv" => direnv = self.bool(v, p)?,
                "build" => {
                    let expected =
                        "an array of strings (argv), a string (run by sh -c) or null (no build)";
                    build = Some(if v.as_str().is_some() {
                        let s = self.text(v, p, expected)?;
                        if s.trim().is_empty() {
                            return Err(self.at(
                                v,
                                p,
                                "the build command line is empty (use null for no build)",
                            ));
                        }
                        BuildSpec {
                            argv: vec![s.to_string()],
                            shell: true,
                        }
                    } else {
                        BuildSpec {
                            argv: self.argv(v, p, expected)?,
                            shell: false,
                        }
                    });
                }
                "restart" => {
                    let expected = "\"never\", \"on-failure\" or \"always\"";
                    let name = self.string(v, p, expected)?;
                    spec.restart = match Restart::parse(name) {
                        Some(r) => r,
                        None => {
                            return Err(self.at(
                                v,
                                p,
                                format!("expected {expected}, found {name:?}"),
                            ))
                        }
                    };
                }
                "backoff" => spec.backoff = self.backoff(v, p)?,
                "max_restarts" => spec.max_restarts = self.uint(v, p, u64::from(u32::MAX))? as u32,
                "min_uptime" => spec.min_uptime_ms = self.duration_ms(v, p)?,
                "stop_signal" => {
                    let text = match &v.kind {
                        json::Kind::String(s) => s.clone(),
                        json::Kind::Number(n) => n.text.clone(),
                        _ => {
                            return Err(self.wrong_type(
                                v,
                                p,
                                "a signal name such as \"TERM\" or a number",
                            ))
                        }
                    };
                    spec.stop_signal =
                        Some(signal::parse(&text).map_err(|e| self.at(v, p, e.message))?);
                }
                "stop_timeout" => spec.stop_timeout_ms = self.duration_ms(v, p)?,
                "leftovers" => {
                    let expected = "\"stop\" or \"keep\"";
                    let s = self.string(v, p, expected)?;
                    spec.leftovers = Leftovers::parse(s).ok_or_else(|| {
                        self.at(v, p, format!("expected {expected}, found {s:?}"))
                    })?;
                }
                "ready" => ready = self.ready(v, p)?,
                "tags" => spec.tags = self.labels(v, p, "tag")?,
                "groups" => spec.groups = self.labels(v, p, "group")?,
                "pty" => spec.pty = self.bool(v, p)?,
                "scrollback" => {
                    let max = crate::term::screen::MAX_SCROLLBACK as u64;
                    spec.scrollback = Some(self.uint(v, p, max)? as u32)
                }
                "logs" => {
                    let m = self.object(
                        v,
                        p,
                        LOGS_KEYS,
                        "an object {\"max_size\", \"keep\", \"timestamps\"}",
                    )?;
                    for (k, lv) in m {
                        let kp = child(p, &k.name);
                        if lv.is_null() {
                            continue;
                        }
                        match k.name.as_str() {
                            "max_size" => {
                                spec.log_max_size = Some(match &lv.kind {
                                    json::Kind::String(s) => {
                                        size::parse(s).map_err(|e| self.at(lv, &kp, e.message))?
                                    }
                                    json::Kind::Number(_) => self.uint(lv, &kp, u64::MAX)?,
                                    _ => {
                                        return Err(self.wrong_type(
                                            lv,
                                            &kp,
                                            "a size such as \"10M\" or a number of bytes",
                                        ))
                                    }
                                })
                            }
                            "keep" => {
                                spec.log_keep =
                                    Some(self.uint(lv, &kp, u64::from(u32::MAX))? as u32)
                            }
                            _ => log_timestamps = self.bool(lv, &kp)?,
                        }
                    }
                }
                // Service-level keys are handled by `service`; `variant` never sees them.
                _ => {}
            }
        }

        let Some((_, argv, shell)) = command else {
            return Err(self.at(
                anchor.value,
                anchor.path,
                "no command: set \"cmd\" (the program and its arguments) or \"shell\" (a command line)",
            ));
        };
        let Some(cwd) = cwd.to_str().map(str::to_string) else {
            return Err(self.at(
                anchor.value,
                anchor.path,
                "the working folder's path is not valid UTF-8",
            ));
        };
        let mut declared = BTreeMap::new();
        declared.extend(env_file);
        declared.extend(env);

        let wrap = self.use_direnv(direnv, &cwd);
        let (argv, shell) = wrap_direnv(wrap, &cwd, argv, shell);
        let build = build.map(|b| {
            let (argv, shell) = wrap_direnv(wrap, &cwd, b.argv, b.shell);
            BuildSpec { argv, shell }
        });

        spec.argv = argv;
        spec.shell = shell;
        spec.cwd = cwd;
        spec.name = Some(name.to_string());
        spec.env = self.full_env(&declared);
        Ok(Variant {
            spec,
            declared_env: declared,
            build,
            ready,
            log_timestamps,
        })
    }

    pub(super) fn backoff(&self, v: &Value, p: &str) -> Result<Backoff> {
        let m = self.object(
            v,
            p,
            BACKOFF_KEYS,
            "an object {\"initial\", \"factor\", \"max\"}",
        )?;
        let mut b = Backoff::default();
        let mut max_at: Option<(&Value, String)> = None;
        for (k, bv) in m {
            let kp = child(p, &k.name);
            if bv.is_null() {
                continue;
            }
            match k.name.as_str() {
                "initial" => b.initial_ms = self.duration_ms(bv, &kp)?,
                "max" => {
                    b.max_ms = self.duration_ms(bv, &kp)?;
                    max_at = Some((bv, kp));
                }
                _ => {
                    let n = bv
                        .as_number()
                        .ok_or_else(|| self.wrong_type(bv, &kp, "a number of at least 1"))?;
                    if !(1.0..=1e6).contains(&n.value) {
                        return Err(self.at(
                            bv,
                            &kp,
                            format!("expected a number from 1 to 1000000, found {}", n.text),
                        ));
                    }
                    b.factor = n.value;
                }
            }
        }
        match max_at {
            Some((mv, mp)) if b.max_ms < b.initial_ms => {
                return Err(self.at(
                    mv,
                    &mp,
                    format!(
                        "max ({}) is less than initial ({})",
                        duration::format(std::time::Duration::from_millis(b.max_ms)),
                        duration::format(std::time::Duration::from_millis(b.initial_ms))
                    ),
                ))
            }
            // Without a max, the default max grows to the initial delay if that is longer.
            None => b.max_ms = b.max_ms.max(b.initial_ms),
            Some(_) => {}
        }
        Ok(b)
    }

    pub(super) fn ready(&self, v: &Value, p: &str) -> Result<Ready> {
        let m = self.object(
            v,
            p,
            READY_KEYS,
            "an object {\"log\", \"port\", \"timeout\"}",
        )?;
        let mut r = Ready::default();
        for (k, rv) in m {
            let kp = child(p, &k.name);
            if rv.is_null() {
                continue;
            }
            match k.name.as_str() {
                "log" => {
                    let s = self.string(rv, &kp, "a regular expression (a string)")?;
                    if s.is_empty() {
                        return Err(self.at(rv, &kp, "the regular expression is empty"));
                    }
                    crate::logs::pattern::Pattern::new(s).map_err(|e| {
                        let why = e.to_string().replace('\n', " ");
                        self.at(rv, &kp, format!("invalid regular expression: {why}"))
                    })?;
                    r.log = Some(s.to_string());
                }
                "port" => {
                    let n = self.uint(rv, &kp, 65_535)?;
                    if n == 0 {
                        return Err(self.at(
                            rv,
                            &kp,
                            "expected a TCP port from 1 to 65535, found 0",
                        ));
                    }
                    r.port = Some(n as u16);
                }
                _ => {
                    r.timeout_ms = self.duration_ms(rv, &kp)?;
                    if r.timeout_ms == 0 {
                        return Err(self.at(rv, &kp, "must be longer than 0"));
                    }
                }
            }
        }
        Ok(r)
    }
}

/// Runs a command through `direnv exec CWD` when `wrap` is set (a shell command line becomes
/// `sh -c LINE` under it).
pub(super) fn wrap_direnv(
    wrap: bool,
    cwd: &str,
    argv: Vec<String>,
    shell: bool,
) -> (Vec<String>, bool) {
    if !wrap {
        return (argv, shell);
    }
    let mut out = vec!["direnv".to_string(), "exec".to_string(), cwd.to_string()];
    if shell {
        out.extend(["sh".to_string(), "-c".to_string()]);
    }
    out.extend(argv);
    (out, false)
}
