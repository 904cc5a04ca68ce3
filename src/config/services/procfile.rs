//! Procfiles (foreman, Heroku): `name: command` lines, each a service run through the shell
//! with restart always, in the Procfile's folder, with the `.env` beside it (wrangle.json(5),
//! PROCFILE).

use super::variant::wrap_direnv;
use super::*;

impl Loader<'_> {
    pub(super) fn procfile(&self, text: &str) -> Result<Vec<ServiceSpec>> {
        let dot_env = self.dir.join(".env");
        let mut declared = BTreeMap::new();
        if dot_env.exists() {
            let env_text = std::fs::read_to_string(&dot_env)
                .map_err(|e| Error::io(format!("cannot read {}", dot_env.display()), e))?;
            let lookup = |k: &str| self.inherited.get(k).cloned();
            declared.extend(envfile::parse(
                &env_text,
                &dot_env.display().to_string(),
                &lookup,
            )?);
        }
        let Some(cwd) = self.dir.to_str().map(str::to_string) else {
            bail!(
                Code::Usage,
                "{}: the folder's path is not valid UTF-8",
                self.file
            )
        };
        let env = self.full_env(&declared);
        let wrap = self.use_direnv(true, &cwd);
        let mut out: Vec<ServiceSpec> = Vec::new();
        let mut lines_of: HashMap<String, usize> = HashMap::new();
        let text = text.strip_prefix(envfile::BOM).unwrap_or(text);
        for (i, raw) in text.lines().enumerate() {
            let n = i + 1;
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let err = |msg: String| Error::new(Code::Usage, format!("{}:{n}:1: {msg}", self.file));
            let Some((name, command)) = line.split_once(':') else {
                return Err(err(format!("expected \"name: command\", found {line:?}")));
            };
            let name = name.trim();
            validate_name(name)
                .map_err(|e| err(format!("{} (expected \"name: command\")", e.message)))?;
            let command = command.trim();
            if command.is_empty() {
                return Err(err(format!("{name}: the command is empty")));
            }
            if command.contains('\0') {
                return Err(err(format!("{name}: the command contains a NUL character")));
            }
            if let Some(first) = lines_of.get(name) {
                return Err(err(format!(
                    "{name}: declared twice (first on line {first})"
                )));
            }
            lines_of.insert(name.to_string(), n);
            let (argv, shell) = wrap_direnv(wrap, &cwd, vec![command.to_string()], true);
            let mut spec = RunSpec::new(argv, cwd.clone());
            spec.shell = shell;
            spec.name = Some(name.to_string());
            spec.restart = Restart::Always;
            spec.env = Arc::clone(&env);
            out.push(ServiceSpec {
                name: name.to_string(),
                project: String::new(),
                file: self.file.clone(),
                base: Variant {
                    spec,
                    declared_env: declared.clone(),
                    build: None,
                    ready: Ready::default(),
                    log_timestamps: false,
                },
                profiles: BTreeMap::new(),
                after: Vec::new(),
                cron_restart: None,
                idle_profile: None,
            });
        }
        if out.is_empty() {
            bail!(
                Code::Usage,
                "{}:1:1: no processes declared (write lines of the form \"name: command\")",
                self.file
            );
        }
        Ok(out)
    }
}
