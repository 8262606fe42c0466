//! What `d1kit migrate`, `status` and `drift` share: the fleet (the databases the wrangler
//! file's d1kit blocks bind, or `--database-id`s), its migrations, how each database is reached
//! (`--local`: wrangler's local state files; `--remote`: the D1 REST API), the progress bar,
//! and the table printer.

use crate::config::{self, Crate};
use crate::report::{self, count};
use crate::{api, FleetArgs, Format};
use d1_codegen::wrangler::{self, FileBlock};
use d1_codegen::{migrations, Diagnostic, Diagnostics};
use d1_runtime::fleet::{self as runtime_fleet, Target};
use d1_runtime::{local, rest, Batch, Executor, Migration, Query, RunResult};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::borrow::Cow;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Cloudflare's request budget per API token (docs/D1.md, "REST API"): the client paces the
/// fleet's requests to stay within it rather than run into 429s.
const REQUESTS_PER_WINDOW: u32 = 1200;
/// The window of [`REQUESTS_PER_WINDOW`].
const WINDOW: Duration = Duration::from_secs(300);

/// The databases of one configured database (`[package.metadata.d1kit.databases.NAME]`), and
/// the migrations they get.
pub struct Group {
    /// The configured database's name.
    pub database: String,
    /// Its migrations directory's files, in order.
    pub migrations: &'static [Migration],
    /// Its databases, deduplicated by id (one database bound twice is one target).
    pub targets: Vec<Target>,
    /// For a pool that scopes tenants by a column, the column and the configured bindings in
    /// shard order: which shard each tenant belongs on (`d1kit status` counts the others).
    pub pool: Option<(String, Vec<String>)>,
    /// The configured database holding this pool's directory, if it has one, and the
    /// pool's configured size.
    pub directory: Option<(String, u32)>,
}

/// Where the databases are.
pub enum Backend {
    /// wrangler's local state: the directory holding `v3/d1` (`--persist-to`).
    Local(PathBuf),
    /// The D1 REST API.
    Remote(rest::Client),
}

/// A fleet command's databases, ready to open.
pub struct Fleet {
    /// One group per configured database, in configuration order.
    pub groups: Vec<Group>,
    /// Where they are.
    pub backend: Backend,
    /// `--format`.
    pub format: Format,
    /// `--concurrency`.
    pub concurrency: usize,
}

/// An open database of either backend: the executor the fleet's functions run on.
pub enum Db {
    /// A local SQLite file (or, for one that does not exist yet and must not be created, an
    /// empty database in memory standing in for it).
    Local(local::Database),
    /// A database reached over the REST API.
    Remote(rest::Database),
}

impl Executor for Db {
    async fn all<Q: Query>(&self, q: Q) -> d1_runtime::Result<Vec<Q::Row>> {
        match self {
            Db::Local(db) => db.all(q).await,
            Db::Remote(db) => db.all(q).await,
        }
    }

    async fn first<Q: Query>(&self, q: Q) -> d1_runtime::Result<Option<Q::Row>> {
        match self {
            Db::Local(db) => db.first(q).await,
            Db::Remote(db) => db.first(q).await,
        }
    }

    async fn run<Q: Query>(&self, q: Q) -> d1_runtime::Result<RunResult> {
        match self {
            Db::Local(db) => db.run(q).await,
            Db::Remote(db) => db.run(q).await,
        }
    }

    async fn batch<B: Batch>(&self, b: B) -> d1_runtime::Result<B::Output> {
        match self {
            Db::Local(db) => db.batch(b).await,
            Db::Remote(db) => db.batch(b).await,
        }
    }
}

fn error(message: impl Into<String>) -> Diagnostics {
    Diagnostics(vec![Diagnostic::error(message)])
}

impl Backend {
    /// `--remote`: the REST API, paced to the token's budget (the account and token from
    /// wrangler's variables); else the local state files under `persist_to` (`--persist-to`,
    /// default `.wrangler/state` beside the wrangler file).
    pub fn new(
        krate: &Crate,
        remote: bool,
        persist_to: Option<&std::path::Path>,
    ) -> Result<Backend, Diagnostics> {
        Ok(if remote {
            let client = api::client(
                "`--remote` reaches the databases through Cloudflare's API",
                "`--local` works on the local state files instead",
            )?;
            Backend::Remote(client.with_request_budget(REQUESTS_PER_WINDOW, WINDOW))
        } else {
            Backend::Local(krate.persist_to(persist_to))
        })
    }

    /// Whether database `id` exists: a local one has its state file (a remote one is taken
    /// to exist).
    pub fn exists(&self, id: &str) -> bool {
        match self {
            Backend::Local(dir) => local::wrangler_state_file(dir, id).exists(),
            Backend::Remote(_) => true,
        }
    }

    /// Opens database `id` (a local file is created when missing).
    pub fn open(&self, id: &str) -> d1_runtime::Result<Db> {
        match self {
            Backend::Local(dir) => {
                local::Database::open(local::wrangler_state_file(dir, id)).map(Db::Local)
            }
            Backend::Remote(client) => Ok(Db::Remote(client.database(id.to_string()))),
        }
    }
}

impl Fleet {
    /// The fleet `args` select, for `command` (`migrate`, `inspect`, `compare`: "no databases
    /// to ..."). The wrangler file is read as `d1kit config` would leave it (and not written:
    /// a note on stderr says when it is out of date).
    pub fn load(args: &FleetArgs, command: &str) -> Result<Fleet, Diagnostics> {
        let krate = Crate::load(args.manifest_path.clone())?;
        let backend = Backend::new(&krate, args.remote, args.persist_to.as_deref())?;
        let groups = if let Some(directory) = &args.tenants_in {
            let ids = tenants_in(&backend, directory)?;
            from_ids(&krate, args, ids)?
        } else if args.database_ids.is_empty() {
            from_wrangler_file(&krate, args, command)?
        } else {
            let ids = args.database_ids.iter().map(|id| (id.clone(), id.clone()));
            let groups = from_ids(&krate, args, ids.collect())?;
            // Only migrate creates a database for an id; status and drift read nothing.
            if command == "migrate" && !args.remote && !args.create {
                unknown_local_ids(&krate, &backend, &args.database_ids)?;
            }
            groups
        };
        Ok(Fleet {
            groups,
            backend,
            format: args.format,
            concurrency: args.concurrency as usize,
        })
    }

    /// Databases in all.
    pub fn len(&self) -> usize {
        self.groups.iter().map(|g| g.targets.len()).sum()
    }

    /// `local` or `remote`.
    pub fn mode(&self) -> &'static str {
        match self.backend {
            Backend::Local(_) => "local",
            Backend::Remote(_) => "remote",
        }
    }

    /// Opens `target`. A local file that does not exist is created when `create`, else stood
    /// in for by an empty database in memory (what it would be once created), so that reading
    /// a fleet's state leaves no file behind.
    pub fn open(&self, target: &Target, create: bool) -> d1_runtime::Result<Db> {
        if !create && !self.backend.exists(&target.id) {
            return local::Database::open_in_memory().map(Db::Local);
        }
        self.backend.open(&target.id)
    }

    /// A progress bar over the fleet's databases (`verb`: what is done to them), on stderr
    /// with rate and ETA; hidden when stderr is not a terminal, and with `--format json`.
    pub fn progress(&self, verb: &str) -> ProgressBar {
        if self.format == Format::Json {
            return ProgressBar::hidden();
        }
        let bar =
            ProgressBar::with_draw_target(Some(self.len() as u64), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template(
            "{prefix} [{bar:30}] {pos}/{len} databases, {per_sec}, ETA {eta} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        bar.set_style(style);
        bar.set_prefix(verb.to_string());
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    }
}

/// The tenants and database ids recorded in the directory kept in database `id`; a tenant
/// whose database is being deleted (`d1kit tenant delete`) is left out, with a note.
fn tenants_in(backend: &Backend, id: &str) -> Result<Vec<(String, String)>, Diagnostics> {
    let db = match backend {
        Backend::Local(dir) => {
            let path = local::wrangler_state_file(dir, id);
            if !path.exists() {
                return Err(error(format!(
                    "--tenants-in {id}: no local database with that id ({} does not exist)",
                    path.display()
                )));
            }
            Db::Local(local::Database::open(path).map_err(|e| error(e.to_string()))?)
        }
        Backend::Remote(client) => Db::Remote(client.database(id)),
    };
    let rows = d1_runtime::block_on(db.all(d1_runtime::Sql::<(String, String)>::new(
        "SELECT tenant, database_id FROM d1kit_tenant_databases ORDER BY tenant",
        Vec::new(),
    )))
    .map_err(|e| {
        error(format!(
            "--tenants-in {id}: reading its directory (table d1kit_tenant_databases): {e}"
        ))
    })?;
    let (deleting, live): (Vec<_>, Vec<_>) = rows
        .into_iter()
        .partition(|(_, database)| database.starts_with(d1_runtime::route::DELETING));
    for (tenant, database) in &deleting {
        eprintln!(
            "note: tenant `{}` is left out: its database {} is being deleted (finish with \
             `d1kit tenant delete`)",
            report::escape(tenant),
            report::escape(d1_runtime::route::unmarked(database))
        );
    }
    Ok(live)
}

/// `--database-id`s with no local database: an error each (a short id as the table shows it,
/// or a typo, would otherwise create a new empty database), naming the wrangler file's id it
/// may abbreviate.
fn unknown_local_ids(krate: &Crate, backend: &Backend, ids: &[String]) -> Result<(), Diagnostics> {
    let known: Vec<String> = wrangler::sync(&krate.config, false)
        .ok()
        .flatten()
        .and_then(|synced| wrangler::file_blocks(&synced.rewrite.text, &synced.file).ok())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|b| b.local_id().map(str::to_string))
        .collect();
    let errors: Vec<Diagnostic> = ids
        .iter()
        .filter(|id| !backend.exists(id))
        .map(|id| {
            let d = Diagnostic::error(format!(
                "no local database has the id `{}`",
                report::escape(id)
            ));
            match known.iter().find(|k| k.starts_with(id.trim_end_matches('…'))) {
                Some(full) => d.with_help(format!("did you mean `{full}`? (tables show ids shortened)")),
                None => d.with_help("pass --create to create it (and migrate it), or use an id from the wrangler file"),
            }
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Diagnostics(errors))
    }
}

/// Listed databases (`--database-id`s, or a directory's tenants): `(label, id)` pairs, one
/// group, with --database's migrations (or the only database's).
fn from_ids(
    krate: &Crate,
    args: &FleetArgs,
    ids: Vec<(String, String)>,
) -> Result<Vec<Group>, Diagnostics> {
    let databases = &krate.config.databases;
    let db = match &args.database {
        None if databases.len() > 1 => {
            return Err(Diagnostics(vec![Diagnostic::error(format!(
                "{} databases are configured: --database-id needs --database NAME to know which migrations the databases get",
                databases.len()
            ))
            .with_help(format!(
                "one of {}",
                databases
                    .iter()
                    .map(|d| format!("`{}`", d.name))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))]))
        }
        name => krate
            .config
            .database(name.as_deref())
            .map_err(|d| Diagnostics(vec![d]))?,
    };
    if !db.is_d1() {
        return Err(Diagnostics(vec![Diagnostic::error(format!(
            "database `{}` is a Durable Object database (`durable_object = \"{}\"`): its databases are its objects' storage, reached by its objects lazily, not D1 databases with ids; see the README",
            db.name,
            db.durable_object.as_deref().unwrap_or_default()
        ))
        .with_help("each object applies the embedded migrations when it wakes; name a D1 database with --database")]));
    }
    let targets = ids
        .into_iter()
        .map(|(label, id)| Target::new(label, id))
        .collect();
    Ok(vec![Group {
        database: db.name.clone(),
        migrations: load_migrations(db)?,
        targets: runtime_fleet::dedup(targets),
        pool: None,
        directory: None,
    }])
}

/// The d1kit blocks of the wrangler file (top level, or `[env.NAME]`), one group per selected
/// configured database.
fn from_wrangler_file(
    krate: &Crate,
    args: &FleetArgs,
    command: &str,
) -> Result<Vec<Group>, Diagnostics> {
    if let Some(env) = &args.env {
        if !krate.config.environments.contains(env) {
            return Err(Diagnostics(vec![Diagnostic::error(format!(
                "no environment `{env}` in `package.metadata.d1kit.environments`: d1kit writes no blocks under [env.{env}]"
            ))
            .with_help(match krate.config.environments.len() {
                0 => "no environments are configured".to_string(),
                _ => format!("configured: {}", krate.config.environments.join(", ")),
            })]));
        }
    }
    let synced = krate.sync_wrangler(
        false,
        &format!("no databases to {command}"),
        "the fleet is the databases the wrangler file's d1kit blocks bind: create an empty wrangler.toml and run `d1kit config` (or `cargo build`), or name the databases with --database-id",
    )?;
    let shown = krate.shown(&synced.file.path);
    let changes = &synced.rewrite.changes;
    if !changes.is_empty() {
        eprint!(
            "note: {} is out of date; the fleet is taken as `d1kit config` (or `cargo build`) would leave it:\n{}",
            report::escape(&shown),
            config::change_list(changes)
        );
    }
    let blocks = wrangler::file_blocks(&synced.rewrite.text, &synced.file)?;
    let scope = match &args.env {
        None => "the top level".to_string(),
        Some(env) => format!("[env.{env}]"),
    };
    let bindings = krate.bindings(args.database.as_deref())?;
    let mut groups = Vec::new();
    let mut unprovisioned: Vec<&FileBlock> = Vec::new();
    let mut durable = 0;
    for db in &krate.config.databases {
        let mine = db.bindings();
        // A Durable Object database has no D1 database to reach: its objects migrate
        // themselves when they wake.
        if !db.is_d1() {
            if mine.iter().any(|b| bindings.contains(b)) {
                eprintln!("{}", durable_note(db, command));
                durable += 1;
            }
            continue;
        }
        let selected: Vec<&FileBlock> = blocks
            .iter()
            .filter(|b| b.env == args.env)
            .filter(|b| {
                b.binding
                    .as_ref()
                    .is_some_and(|x| mine.contains(x) && bindings.contains(x))
            })
            .collect();
        if selected.is_empty() {
            continue;
        }
        let mut targets = Vec::new();
        for b in selected {
            let id = if args.remote {
                if b.has_placeholder_id() {
                    unprovisioned.push(b);
                }
                b.database_id.as_deref()
            } else {
                b.local_id()
            };
            let Some(id) = id else {
                return Err(Diagnostics(vec![Diagnostic::error(format!(
                    "{shown}: {} has no database_id",
                    b.describe()
                ))
                .with_help("run `d1kit config` (or `cargo build`) to write it")]));
            };
            let label = b.binding.clone().unwrap_or_default();
            targets.push(Target::new(label, id));
        }
        groups.push(Group {
            database: db.name.clone(),
            migrations: load_migrations(db)?,
            targets: runtime_fleet::dedup(targets),
            pool: db
                .tenant_column
                .clone()
                .filter(|_| db.shards > 1)
                .map(|column| (column, mine.clone())),
            directory: db.directory.as_ref().map(|d| (d.name.clone(), db.shards)),
        });
    }
    if !unprovisioned.is_empty() {
        let list: Vec<String> = unprovisioned.iter().map(|b| b.describe()).collect();
        return Err(Diagnostics(vec![Diagnostic::error(format!(
            "{shown}: {} of {scope} still {} d1kit's placeholder id, not a database on Cloudflare: {}",
            count(unprovisioned.len(), "block"),
            if unprovisioned.len() == 1 { "holds" } else { "hold" },
            list.join(", ")
        ))
        .with_help("run `d1kit provision --remote` first: it creates the databases and writes their ids")]));
    }
    if groups.is_empty() && durable == 0 {
        return Err(error(format!(
            "{shown} has no d1kit blocks at {scope}: no databases to {command}"
        )));
    }
    Ok(groups)
}

/// The note for a Durable Object database that a fleet command (`command`: `migrate`,
/// `inspect`, `compare`, ..) or `d1kit provision` skips.
pub(crate) fn durable_note(db: &d1_codegen::config::DatabaseConfig, command: &str) -> String {
    format!(
        "note: skipped database `{}`: a Durable Object database (`{}`), one per user, reached by its objects lazily; see the README (each object applies the migrations when it wakes: nothing to {command} here)",
        report::escape(&db.name),
        report::escape(db.durable_object.as_deref().unwrap_or_default())
    )
}

/// The migrations of `db`, as the runtime takes them (leaked: the command is short-lived);
/// the set's warnings are printed.
pub(crate) fn load_migrations(
    db: &d1_codegen::config::DatabaseConfig,
) -> Result<&'static [Migration], Diagnostics> {
    let set = migrations::load(&db.migrations, db.migrations_pattern.as_deref())?;
    for w in &set.warnings {
        report::eprint(w, None);
    }
    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    let list: Vec<Migration> = set
        .migrations
        .into_iter()
        .map(|m| {
            let sql = leak(m.sql);
            let statements: Vec<&'static str> = d1_codegen::lex::split_statements(sql)
                .iter()
                .map(|st| st.text(sql))
                .collect();
            Migration {
                name: leak(m.name),
                sql,
                statements: Box::leak(statements.into_boxed_slice()),
                checksum: leak(m.checksum),
            }
        })
        .collect();
    // What D1 would refuse is refused here, before any database is read or written.
    let refused: Vec<Diagnostic> = d1_runtime::migrate::refusals(&list)
        .into_iter()
        .map(|(name, line, why)| {
            let file = db.migrations.join(name);
            Diagnostic::error(format!("{}:{line}: {why}", file.display()))
                .with_help("D1 applies each migration file as one transaction; see the README, \"What d1kit refuses in migrations\"")
        })
        .collect();
    if !refused.is_empty() {
        return Err(Diagnostics(refused));
    }
    Ok(Box::leak(list.into_boxed_slice()))
}

/// The exit status of a fleet command whose databases need a person: one failed, or (dry
/// run, status) something is pending, edited or unknown, or drifts.
const ATTENTION: u8 = 1;

/// Runs a fleet command: loads the fleet `args` select (for `command`, as error messages name
/// it), then `body`, which prints its report and tells whether something needs attention
/// (exit status 1). A usage or configuration error is exit status 2.
pub fn command(
    args: &FleetArgs,
    command: &str,
    body: impl FnOnce(&Fleet) -> Result<bool, Diagnostics>,
) -> ExitCode {
    exit(
        args.format,
        Fleet::load(args, command).and_then(|fleet| body(&fleet)),
    )
}

/// A command's exit status: 0 done, 1 something needs attention (`Ok(true)`), 2 a usage or
/// configuration error (printed, as `{"errors"}` on stdout too with `--format json`).
pub fn exit(format: Format, result: Result<bool, Diagnostics>) -> ExitCode {
    match result {
        Ok(false) => ExitCode::SUCCESS,
        Ok(true) => ExitCode::from(ATTENTION),
        Err(d) => failed(format, &d),
    }
}

/// A usage or configuration error: printed (as `{"errors"}` on stdout with `--format json`),
/// exit status 2.
fn failed(format: Format, d: &Diagnostics) -> ExitCode {
    if format == Format::Json {
        println!("{}", report::json_errors(d));
    }
    config::failed(d)
}

/// The first 8 characters of an id, for tables.
pub fn short_id(id: &str) -> String {
    match id.char_indices().nth(8) {
        Some((i, _)) => format!("{}…", &id[..i]),
        None => id.to_string(),
    }
}

/// The first line of `text`, at most `max` characters (`…` when cut).
pub fn first_line(text: &str, max: usize) -> String {
    let line = text.lines().next().unwrap_or("");
    if line.chars().count() <= max && !text.contains('\n') {
        return line.to_string();
    }
    let cut: String = line.chars().take(max.saturating_sub(1)).collect();
    format!("{cut}…")
}

/// Rows under their headers, columns left-aligned two spaces apart. Every cell is escaped
/// ([`report::escape`]): a label or name read from a database or a file can neither start a
/// row of its own nor send the terminal an escape sequence.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let rows: Vec<Vec<Cow<str>>> = rows
        .iter()
        .map(|r| r.iter().map(|c| report::escape(c)).collect())
        .collect();
    let width = |i: usize| {
        rows.iter()
            .map(|r| r.get(i).map_or(0, |c| c.chars().count()))
            .chain([headers[i].chars().count()])
            .max()
            .unwrap_or(0)
    };
    let widths: Vec<usize> = (0..headers.len()).map(width).collect();
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, c) in cells.iter().enumerate() {
            out.push_str(c);
            let pad = widths[i].saturating_sub(c.chars().count()) + 2;
            out.extend(std::iter::repeat_n(' ', pad));
        }
        format!("{}\n", out.trim_end())
    };
    let mut out = line(headers.to_vec());
    for r in &rows {
        out.push_str(&line(r.iter().map(|c| c.as_ref()).collect()));
    }
    out
}

/// Runs `work` on each item with at most `concurrency` threads (items taken in order), calling
/// `done` as each finishes; the results in the items' order. The work queue is the migrator's
/// own ([`runtime_fleet::for_each_concurrent`]), never stopped early here.
pub fn each<T: Sync, R: Send>(
    items: &[T],
    concurrency: usize,
    work: impl Fn(&T) -> R + Sync,
    done: impl Fn(&R) + Sync,
) -> Vec<R> {
    runtime_fleet::for_each_concurrent(
        items,
        concurrency,
        |item| ControlFlow::Continue(work(item)),
        done,
    )
    .into_iter()
    .flatten()
    .collect()
}
