//! Durable Object databases (`durable_object = "ClassName"`) in the wrangler file: in every
//! scope d1kit manages, the `durable_objects.bindings` entry that binds the class, and the
//! `migrations` entry that declares it in `new_sqlite_classes`. Entries are only ever appended:
//! an existing binding is kept byte for byte (or is a conflict), and the migration list is
//! append-only (wrangler applies it in order and knows each entry by its tag), so an entry is
//! never rewritten, reordered or removed.
//!
//! Environments follow wrangler (`packages/wrangler/src/config/validation.ts`):
//! `durable_objects` is not inherited, so the binding is repeated under each `[env.NAME]` like
//! the D1 blocks; `migrations` is inheritable, so it is written at the top level, and into an
//! environment only when that environment has a `migrations` list of its own (which replaces
//! the top level's).

use super::*;

/// A value of the wrangler file, whatever its format (TOML items and JSON nodes alike), with
/// the byte offset it starts at (0 when the format gives none).
#[derive(Debug, Clone)]
pub(super) struct Tree {
    pub(super) offset: usize,
    pub(super) kind: TreeKind,
}

#[derive(Debug, Clone)]
pub(super) enum TreeKind {
    Str(String),
    Array(Vec<Tree>),
    Object(Vec<(String, Tree)>),
    /// A number, boolean, date or null.
    Other,
}

impl Tree {
    pub(super) fn new(offset: usize, kind: TreeKind) -> Tree {
        Tree { offset, kind }
    }

    fn get(&self, key: &str) -> Option<&Tree> {
        match &self.kind {
            TreeKind::Object(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    fn str(&self) -> Option<&str> {
        match &self.kind {
            TreeKind::Str(s) => Some(s),
            _ => None,
        }
    }

    fn str_at(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Tree::str)
    }

    /// The elements of the array at `key` (none when absent or not an array).
    fn list_at(&self, key: &str) -> &[Tree] {
        match self.get(key).map(|t| &t.kind) {
            Some(TreeKind::Array(e)) => e,
            _ => &[],
        }
    }

    /// The strings of the array at `key`.
    fn strings_at(&self, key: &str) -> Vec<&str> {
        self.list_at(key).iter().filter_map(Tree::str).collect()
    }
}

/// The keys of one scope (the top level or an `[env.NAME]`) that concern Durable Objects, as
/// the file writes them.
#[derive(Debug, Default)]
pub(super) struct FoundDurable {
    /// `durable_objects` (a table holding `bindings`).
    pub(super) durable_objects: Option<Tree>,
    /// `migrations` (the list of migration entries).
    pub(super) migrations: Option<Tree>,
    /// `exports` (wrangler's declarative alternative to `migrations`; top level only).
    pub(super) exports: Option<Tree>,
}

/// A `durable_objects.bindings` entry d1kit appends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurableBinding {
    /// `name`: the database's binding.
    pub name: String,
    /// `class_name`: its `durable_object` class.
    pub class_name: String,
}

/// A `migrations` entry d1kit appends: `{ tag, new_sqlite_classes = [class_name] }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteMigration {
    /// `tag`: `d1kit-<ClassName>`, or `d1kit-<ClassName>-<n>` (n = 2, 3, ..) when an entry of
    /// the list already has that tag.
    pub tag: String,
    /// The class it declares in `new_sqlite_classes`.
    pub class_name: String,
}

/// What to append in one scope.
#[derive(Debug, Default)]
pub(super) struct DurablePlan {
    pub(super) env: Option<String>,
    /// To append to the scope's `durable_objects.bindings`.
    pub(super) bindings: Vec<DurableBinding>,
    /// To append to the scope's `migrations`.
    pub(super) migrations: Vec<SqliteMigration>,
}

/// `[[durable_objects.bindings]]`, `[[env.staging.migrations]]`: a scope's array for people.
pub(super) fn array_name(env: &Option<String>, array: &str) -> String {
    match env {
        None => array.to_string(),
        Some(e) => format!("env.{e}.{array}"),
    }
}

/// What a durable database wants in the file, and the state of its class in a migration list.
enum Class {
    /// Declared by no entry.
    Undeclared,
    /// Live, with its storage backend, as of entry `declared`, which named it `origin`
    /// (renamed into this name by entry `renamed` when it was).
    Live {
        backend: Backend,
        declared: usize,
        origin: String,
        renamed: Option<usize>,
    },
    /// Deleted by entry `.0`.
    Deleted(usize),
    /// Renamed by entry `.0` to `.1`.
    RenamedAway(usize, String),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    KeyValue,
    /// Transferred from another Worker: its backend is that Worker's business.
    Unknown,
}

/// The state of `class` once every entry of `entries` is applied, in order.
fn class_state(entries: &[Tree], class: &str) -> Class {
    let mut states: BTreeMap<String, Class> = BTreeMap::new();
    for (i, e) in entries.iter().enumerate() {
        for c in e.strings_at("new_classes") {
            states.insert(
                c.to_string(),
                Class::Live {
                    backend: Backend::KeyValue,
                    declared: i,
                    origin: c.to_string(),
                    renamed: None,
                },
            );
        }
        for c in e.strings_at("new_sqlite_classes") {
            states.insert(
                c.to_string(),
                Class::Live {
                    backend: Backend::Sqlite,
                    declared: i,
                    origin: c.to_string(),
                    renamed: None,
                },
            );
        }
        for r in e.list_at("renamed_classes") {
            let (Some(from), Some(to)) = (r.str_at("from"), r.str_at("to")) else {
                continue;
            };
            let (backend, declared, origin) = match states.get(from) {
                Some(Class::Live {
                    backend,
                    declared,
                    origin,
                    ..
                }) => (*backend, *declared, origin.clone()),
                _ => (Backend::Unknown, i, from.to_string()),
            };
            states.insert(from.to_string(), Class::RenamedAway(i, to.to_string()));
            states.insert(
                to.to_string(),
                Class::Live {
                    backend,
                    declared,
                    origin,
                    renamed: Some(i),
                },
            );
        }
        for t in e.list_at("transferred_classes") {
            if let Some(to) = t.str_at("to") {
                states.insert(
                    to.to_string(),
                    Class::Live {
                        backend: Backend::Unknown,
                        declared: i,
                        origin: to.to_string(),
                        renamed: None,
                    },
                );
            }
        }
        for c in e.strings_at("deleted_classes") {
            states.insert(c.to_string(), Class::Deleted(i));
        }
    }
    states.remove(class).unwrap_or(Class::Undeclared)
}

/// The tag of a new entry declaring `class`: `d1kit-<class>`, else the first of
/// `d1kit-<class>-2`, `-3`, .. that no entry of the list (nor one d1kit adds) has.
fn new_tag(class: &str, taken: &[String]) -> String {
    let base = format!("d1kit-{class}");
    std::iter::once(base.clone())
        .chain((2u32..).map(|n| format!("{base}-{n}")))
        .find(|t| !taken.contains(t))
        .unwrap_or(base)
}

/// Where the error of `tree` points.
fn at(text: &str, tree: &Tree) -> Location {
    Location::at(text, tree.offset.min(text.len()))
}

fn kind_word(file: &WranglerFile, tree: &Tree) -> &'static str {
    match (&tree.kind, file.format) {
        (TreeKind::Array(_), _) => "an array",
        (TreeKind::Object(_), Format::Toml) => "a table",
        (TreeKind::Object(_), Format::Json) => "an object",
        (TreeKind::Str(_), _) => "a string",
        (TreeKind::Other, _) => "a number, boolean or date",
    }
}

/// `key` of the file is not `want` ("an array", "a table"): an error at it.
fn shape_error(text: &str, file: &WranglerFile, tree: &Tree, key: &str, want: &str) -> Diagnostic {
    Diagnostic::error(format!(
        "`{key}` in `{}` is {}, not {want}: wrangler would refuse it, and d1kit cannot add to it",
        file_name(&file.path),
        kind_word(file, tree)
    ))
    .in_file(&file.path)
    .at(at(text, tree), 1)
}

fn object_word(file: &WranglerFile) -> &'static str {
    match file.format {
        Format::Toml => "a table",
        Format::Json => "an object",
    }
}

/// The entries of an array that must hold objects; an error for the first that does not.
fn entries<'t>(
    text: &str,
    file: &WranglerFile,
    array: &'t Tree,
    key: &str,
) -> Result<&'t [Tree], Diagnostic> {
    let TreeKind::Array(items) = &array.kind else {
        return Err(shape_error(text, file, array, key, "an array"));
    };
    match items
        .iter()
        .find(|e| !matches!(e.kind, TreeKind::Object(_)))
    {
        Some(bad) => Err(shape_error(
            text,
            file,
            bad,
            &format!("an element of `{key}`"),
            object_word(file),
        )),
        None => Ok(items),
    }
}

/// The plan for the Durable Object databases of `config`, added to `result` (errors to
/// `errors`): the scopes are the top level and each configured environment.
pub(super) fn plan(
    text: &str,
    file: &WranglerFile,
    config: &Config,
    found: &Found,
    result: &mut Plan,
    errors: &mut Vec<Diagnostic>,
) {
    let durable: Vec<&DatabaseConfig> = config.databases.iter().filter(|d| !d.is_d1()).collect();
    if durable.is_empty() {
        return;
    }
    let none = FoundDurable::default();
    let envs = std::iter::once(None).chain(config.environments.iter().cloned().map(Some));
    for env in envs {
        let fd = found
            .scopes
            .iter()
            .find(|s| s.env == env)
            .map_or(&none, |s| &s.durable);
        let mut dp = DurablePlan {
            env: env.clone(),
            ..DurablePlan::default()
        };
        match scope_bindings(text, file, &env, fd) {
            Err(e) => errors.push(e),
            Ok(existing) => {
                for db in &durable {
                    match binding(text, file, config, &env, db, existing) {
                        Ok(Some(b)) => {
                            result.changes.push(Change::AddDurableBinding {
                                env: env.clone(),
                                binding: b.clone(),
                            });
                            dp.bindings.push(b);
                        }
                        Ok(None) => {}
                        Err(e) => errors.push(e),
                    }
                }
            }
        }
        // `migrations` is inheritable: the top level's serve every environment that has none.
        let exports = fd.exports.as_ref().filter(|_| env.is_none());
        if let Some(exports) = exports {
            for db in &durable {
                if let Some(e) = check_exports(text, file, config, db, exports) {
                    errors.push(e);
                }
            }
        } else if env.is_none() || fd.migrations.is_some() {
            let list = match &fd.migrations {
                None => Ok(&[][..]),
                Some(m) => entries(text, file, m, &array_name(&env, "migrations")),
            };
            match list {
                Err(e) => errors.push(e),
                Ok(list) => {
                    let mut taken: Vec<String> = list
                        .iter()
                        .filter_map(|e| e.str_at("tag").map(str::to_string))
                        .collect();
                    for db in &durable {
                        match migration(text, file, config, &env, db, list, &taken) {
                            Ok(Some(m)) => {
                                taken.push(m.tag.clone());
                                result.changes.push(Change::AddMigration {
                                    env: env.clone(),
                                    migration: m.clone(),
                                });
                                dp.migrations.push(m);
                            }
                            Ok(None) => {}
                            Err(e) => errors.push(e),
                        }
                    }
                }
            }
        }
        if !dp.bindings.is_empty() || !dp.migrations.is_empty() {
            result.durable.push(dp);
        }
    }
}

/// The entries of the scope's `durable_objects.bindings`.
fn scope_bindings<'t>(
    text: &str,
    file: &WranglerFile,
    env: &Option<String>,
    fd: &'t FoundDurable,
) -> Result<&'t [Tree], Diagnostic> {
    let Some(d) = &fd.durable_objects else {
        return Ok(&[]);
    };
    let key = array_name(env, "durable_objects");
    if !matches!(d.kind, TreeKind::Object(_)) {
        return Err(shape_error(text, file, d, &key, object_word(file)));
    }
    match d.get("bindings") {
        None => Ok(&[]),
        Some(b) => entries(text, file, b, &format!("{key}.bindings")),
    }
}

/// The entry to add for `db` in a scope with the `existing` bindings: `None` when one with its
/// name binds its class already.
fn binding(
    text: &str,
    file: &WranglerFile,
    config: &Config,
    env: &Option<String>,
    db: &DatabaseConfig,
    existing: &[Tree],
) -> Result<Option<DurableBinding>, Diagnostic> {
    let class = db.durable_object.as_deref().unwrap_or_default();
    let array = array_name(env, "durable_objects.bindings");
    let same: Vec<&Tree> = existing
        .iter()
        .filter(|e| e.str_at("name") == Some(db.binding.as_str()))
        .collect();
    let line = |t: &Tree| at(text, t).line;
    match same.as_slice() {
        [] => Ok(Some(DurableBinding {
            name: db.binding.clone(),
            class_name: class.to_string(),
        })),
        [e] if e.str_at("class_name") == Some(class) => Ok(None),
        [e] => {
            let theirs = match e.get("class_name") {
                Some(Tree {
                    kind: TreeKind::Str(s),
                    ..
                }) => format!("the class `{s}`"),
                Some(_) => "a `class_name` that is not a string".to_string(),
                None => "no `class_name`".to_string(),
            };
            let name = &db.name;
            Err(Diagnostic::error(format!(
                "[[{array}]] entry `{}` in `{}` (line {}) has {theirs}, and database `{name}` wants `{}` bound to its Durable Object class `{class}`",
                db.binding,
                file_name(&file.path),
                line(e),
                db.binding,
            ))
            .with_help(format!(
                "d1kit never rewrites a binding entry. Make them agree: set {} to the entry's class if that class holds the database, or delete the entry (d1kit then writes its own), or give the database another `binding` ({})",
                config.describe_key(&format!("databases.{name}.durable_object")),
                config.describe_key(&format!("databases.{name}.binding")),
            ))
            .in_file(&file.path)
            .at(at(text, e), 1))
        }
        [_, second, ..] => Err(Diagnostic::error(format!(
            "`{}` has {} [[{array}]] entries named `{}` (lines {}): wrangler takes one",
            file_name(&file.path),
            same.len(),
            db.binding,
            same.iter()
                .map(|t| line(t).to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .with_help("delete all but one")
        .in_file(&file.path)
        .at(at(text, second), 1)),
    }
}

/// The entry to append for `db`'s class to the migration list `list`: `None` when an entry
/// declares it SQLite-backed already; an error when the list makes it key-value-backed,
/// deletes it or renames it away.
fn migration(
    text: &str,
    file: &WranglerFile,
    config: &Config,
    env: &Option<String>,
    db: &DatabaseConfig,
    list: &[Tree],
    taken: &[String],
) -> Result<Option<SqliteMigration>, Diagnostic> {
    let class = db.durable_object.as_deref().unwrap_or_default();
    let array = array_name(env, "migrations");
    let key = config.describe_key(&format!("databases.{}.durable_object", db.name));
    // `[[migrations]] entry `v1` (line 3)`
    let entry = |i: usize| {
        let e = &list[i];
        let tag = e
            .str_at("tag")
            .map_or("(no tag)".to_string(), |t| format!("`{t}`"));
        format!("[[{array}]] entry {tag} (line {})", at(text, e).line)
    };
    let file = &file.path;
    let of = format!("of `{}`", file_name(file));
    let error = |i: usize, message: String, help: String| {
        Err(Diagnostic::error(message)
            .with_help(help)
            .in_file(file)
            .at(at(text, &list[i]), 1))
    };
    match class_state(list, class) {
        Class::Undeclared => Ok(Some(SqliteMigration {
            tag: new_tag(class, taken),
            class_name: class.to_string(),
        })),
        Class::Live {
            backend: Backend::Sqlite | Backend::Unknown,
            ..
        } => Ok(None),
        Class::Live {
            backend: Backend::KeyValue,
            declared,
            origin,
            renamed,
        } => {
            let how = match renamed {
                Some(r) => format!("; {} renames it to `{class}`", entry(r)),
                None => String::new(),
            };
            error(
                renamed.unwrap_or(declared),
                format!(
                    "{} {of} declares `{origin}` in `new_classes`, a key-value-backed Durable Object class{how}, and database `{}` needs `{class}` SQLite-backed",
                    entry(declared),
                    db.name
                ),
                format!(
                    "Cloudflare cannot enable the SQLite storage backend on an existing, deployed key-value-backed class (a later `new_sqlite_classes` for it fails). Name a new class in {key}, which d1kit declares in `new_sqlite_classes`; or, if that entry was never deployed, move the class from its `new_classes` to `new_sqlite_classes` yourself"
                ),
            )
        }
        Class::Deleted(i) => error(
            i,
            format!(
                "{} {of} deletes the class `{class}` (`deleted_classes`), and database `{}` wants it",
                entry(i),
                db.name
            ),
            format!(
                "a deleted class's objects are gone with their data, and d1kit does not declare a class again after its deletion: name a new class in {key}"
            ),
        ),
        Class::RenamedAway(i, to) => error(
            i,
            format!(
                "{} {of} renames the class `{class}` to `{to}`, and database `{}` wants `{class}`: its objects, and their data, are `{to}`'s now",
                entry(i),
                db.name
            ),
            format!("set {key} to `{to}` to keep reaching them, or name a new class"),
        ),
    }
}

/// With `exports` (wrangler's declarative form, which it refuses beside `migrations`), d1kit
/// writes no migration: the class must be there, live and SQLite-backed.
fn check_exports(
    text: &str,
    file: &WranglerFile,
    config: &Config,
    db: &DatabaseConfig,
    exports: &Tree,
) -> Option<Diagnostic> {
    let class = db.durable_object.as_deref().unwrap_or_default();
    let entry = exports.get(class);
    let live_sqlite = entry.is_some_and(|e| {
        e.str_at("type") == Some("durable-object")
            && e.str_at("storage") == Some("sqlite")
            && e.str_at("state").is_none_or(|s| s == "created")
    });
    if live_sqlite {
        return None;
    }
    let what = match entry {
        None => format!("has no entry for `{class}`"),
        Some(_) => format!("does not declare `{class}` as a live (`state` \"created\") durable object with `storage` \"sqlite\""),
    };
    let wanted = match file.format {
        Format::Toml => format!("`{class} = {{ type = \"durable-object\", storage = \"sqlite\" }}` under [exports]"),
        Format::Json => format!("`\"{class}\": {{ \"type\": \"durable-object\", \"storage\": \"sqlite\" }}` to \"exports\""),
    };
    Some(
        Diagnostic::error(format!(
            "`{}` declares its Durable Object classes in `exports` (line {}), which wrangler does not allow beside `migrations`, and it {what}: database `{}` needs that class SQLite-backed",
            file_name(&file.path),
            at(text, exports).line,
            db.name
        ))
        .with_help(format!(
            "add {wanted} (d1kit writes `migrations`, never `exports`), or name another class in {}",
            config.describe_key(&format!("databases.{}.durable_object", db.name))
        ))
        .in_file(&file.path)
        .at(at(text, entry.unwrap_or(exports)), 1),
    )
}

/// A `[[d1_databases]]` block left with the binding of Durable Object database `db`: wrangler
/// wants each binding name once in a Worker.
pub(super) fn d1_block_left(
    text: &str,
    file: &WranglerFile,
    config: &Config,
    env: &Option<String>,
    db: &DatabaseConfig,
    b: &FoundBlock,
) -> Diagnostic {
    let why = match (&b.database_name, &b.database_id) {
        (Some(name), Some(id)) if *id == placeholder_id(name) => format!(
            "it holds d1kit's placeholder id, and `wrangler dev --local` keeps data for it beside `{}`, which d1kit does not drop",
            file_name(&file.path)
        ),
        (name, Some(id)) => format!(
            "it names the D1 database `{}` (id `{id}`), whose data d1kit does not drop",
            name.as_deref().unwrap_or("?")
        ),
        _ => "d1kit cannot tell it is its own".to_string(),
    };
    Diagnostic::error(format!(
        "[[{}]] block `{}` is still in `{}`, and database `{}` is now a Durable Object (`{}`) bound as `{}`: a Worker's bindings need distinct names, and {why}",
        scope_name(env),
        db.binding,
        file_name(&file.path),
        db.name,
        db.durable_object.as_deref().unwrap_or_default(),
        db.binding
    ))
    .with_help(format!(
        "move what you need out of that D1 database, then delete the block; or bind the durable database under another name ({})",
        config.describe_key(&format!("databases.{}.binding", db.name))
    ))
    .in_file(&file.path)
    .at(Location::at(text, b.offset), 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Tree {
        Tree::new(0, TreeKind::Str(v.into()))
    }

    fn list(v: &[&str]) -> Tree {
        Tree::new(0, TreeKind::Array(v.iter().map(|c| s(c)).collect()))
    }

    fn entry(fields: Vec<(&str, Tree)>) -> Tree {
        Tree::new(
            0,
            TreeKind::Object(fields.into_iter().map(|(k, v)| (k.into(), v)).collect()),
        )
    }

    fn rename(from: &str, to: &str) -> Tree {
        Tree::new(
            0,
            TreeKind::Array(vec![entry(vec![("from", s(from)), ("to", s(to))])]),
        )
    }

    #[test]
    fn a_class_follows_the_entries_in_order() {
        let list = vec![
            entry(vec![("tag", s("v1")), ("new_classes", list(&["Kv"]))]),
            entry(vec![
                ("tag", s("v2")),
                ("new_sqlite_classes", list(&["Sql", "Gone"])),
            ]),
            entry(vec![
                ("tag", s("v3")),
                ("renamed_classes", rename("Sql", "Sql2")),
            ]),
            entry(vec![
                ("tag", s("v4")),
                ("renamed_classes", rename("Kv", "Kv2")),
            ]),
            entry(vec![("tag", s("v5")), ("deleted_classes", list(&["Gone"]))]),
        ];
        let live = |c: &str| match class_state(&list, c) {
            Class::Live {
                backend,
                declared,
                origin,
                renamed,
            } => Some((backend == Backend::Sqlite, declared, origin, renamed)),
            _ => None,
        };
        assert_eq!(live("Sql2"), Some((true, 1, "Sql".to_string(), Some(2))));
        assert_eq!(live("Kv2"), Some((false, 0, "Kv".to_string(), Some(3))));
        assert_eq!(live("Kv"), None);
        assert!(matches!(class_state(&list, "Sql"), Class::RenamedAway(2, ref to) if to == "Sql2"));
        assert!(matches!(class_state(&list, "Gone"), Class::Deleted(4)));
        assert!(matches!(class_state(&list, "New"), Class::Undeclared));
    }

    #[test]
    fn new_tags_avoid_every_taken_one() {
        assert_eq!(new_tag("UserNotes", &[]), "d1kit-UserNotes");
        let taken = ["v1".to_string(), "d1kit-UserNotes".to_string()];
        assert_eq!(new_tag("UserNotes", &taken), "d1kit-UserNotes-2");
        let taken = [
            "d1kit-UserNotes".to_string(),
            "d1kit-UserNotes-2".to_string(),
        ];
        assert_eq!(new_tag("UserNotes", &taken), "d1kit-UserNotes-3");
    }
}
