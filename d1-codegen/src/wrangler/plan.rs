//! The plan of a rewrite: which blocks the configuration wants in each scope, which of the
//! file's blocks are d1kit's, what to add, update and remove, which retired shards to keep,
//! and the conflicts that stop it.

use super::*;
use crate::glob;

/// How the warning about a released block begins: a rewrite is only a proposal until
/// [`written`] says the file was written.
const WOULD_REMOVE: &str = "would remove the ";
const REMOVED: &str = "removed the ";

/// The plan's warnings once its rewrite is written: "would remove" becomes "removed".
pub(super) fn written(warnings: &mut [Diagnostic]) {
    for w in warnings {
        if let Some(rest) = w.message.strip_prefix(WOULD_REMOVE) {
            w.message = format!("{REMOVED}{rest}");
        }
    }
}

/// A binding the configuration asks for in one scope.
struct Slot<'a> {
    db: &'a DatabaseConfig,
    shard: usize,
    block: Block,
}

pub(super) fn plan(
    text: &str,
    file: &WranglerFile,
    config: &Config,
    found: &Found,
    released: &[(Option<String>, String)],
) -> Result<Plan, Diagnostics> {
    let dir = file.path.parent().unwrap_or(Path::new(""));
    let top_worker = found
        .name
        .clone()
        .or_else(|| config.package.clone())
        .unwrap_or_else(|| {
            config
                .root
                .file_name()
                .map_or("worker".into(), |n| n.to_string_lossy().into_owned())
        });
    let mut errors = Vec::new();
    let mut result = Plan::default();
    let envs = std::iter::once(None).chain(config.environments.iter().cloned().map(Some));
    for env in envs {
        let existing = found.scopes.iter().find(|s| s.env == env);
        // wrangler names an environment's Worker `<name>-<env>` unless the environment names it.
        let worker = match (&env, existing.and_then(|s| s.name.clone())) {
            (None, _) => top_worker.clone(),
            (Some(_), Some(n)) => n,
            (Some(e), None) => format!("{top_worker}-{e}"),
        };
        let blocks: &[FoundBlock] = existing.map_or(&[], |s| &s.blocks);
        let at = |b: &FoundBlock| Location::at(text, b.offset).line;
        let mut sp = ScopePlan {
            env: env.clone(),
            ..ScopePlan::default()
        };
        // Durable Object databases get no [[d1_databases]] block ([`super::durable`]).
        let slots: Vec<Slot> = config
            .databases
            .iter()
            .filter(|db| db.is_d1())
            .flat_map(|db| {
                let worker = &worker;
                db.bindings()
                    .into_iter()
                    .enumerate()
                    .map(move |(n, binding)| {
                        let database_name = db.database_name_for(worker, n as u32);
                        let migrations_dir = relative(dir, &db.migrations);
                        let migrations_pattern = db.migrations_pattern.as_ref().map(|p| {
                            if migrations_dir == "." {
                                p.clone()
                            } else {
                                format!("{migrations_dir}/{p}")
                            }
                        });
                        Slot {
                            db,
                            shard: n,
                            block: Block {
                                binding,
                                database_id: placeholder_id(&database_name),
                                database_name,
                                migrations_dir,
                                migrations_pattern,
                            },
                        }
                    })
            })
            .collect();
        let mut wanted_at = vec![false; blocks.len()];
        let mut adds: Vec<(&DatabaseConfig, usize, Block)> = Vec::new();
        for slot in &slots {
            let matching: Vec<usize> = (0..blocks.len())
                .filter(|&i| blocks[i].binding.as_deref() == Some(slot.block.binding.as_str()))
                .collect();
            if matching.len() > 1 {
                errors.push(
                    Diagnostic::error(format!(
                        "`{}` has {} [[{}]] blocks with binding `{}` (lines {}): wrangler takes one",
                        file_name(&file.path),
                        matching.len(),
                        scope_name(&env),
                        slot.block.binding,
                        matching
                            .iter()
                            .map(|&i| at(&blocks[i]).to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                    .with_help("delete all but one; d1kit keeps the database_id of the one left")
                    .in_file(&file.path)
                    .at(Location::at(text, blocks[matching[1]].offset), 1),
                );
                continue;
            }
            let Some(&i) = matching.first() else {
                adds.push((slot.db, slot.shard, slot.block.clone()));
                continue;
            };
            wanted_at[i] = true;
            let b = &blocks[i];
            let want = &slot.block;
            let proven = is_placeholder_of(b);
            let name_differs = b.database_name.as_deref() != Some(want.database_name.as_str());
            let dir_differs = !b
                .migrations_dir
                .as_deref()
                .is_some_and(|m| same_dir(dir, m, &slot.db.migrations));
            if !proven
                && ((b.database_name.is_some() && name_differs)
                    || (b.migrations_dir.is_some() && dir_differs))
            {
                errors.push(conflict(text, file, config, &env, slot, b, name_differs));
                continue;
            }
            // wrangler applies what the block's pattern selects: d1kit must read the same
            // files, so a pattern it was not told about is an error, never overwritten.
            let pattern_differs = b.migrations_pattern.as_deref().map(glob::normalize)
                != want.migrations_pattern.as_deref().map(glob::normalize);
            if pattern_differs
                && b.migrations_pattern.is_some()
                && (!proven || want.migrations_pattern.is_none())
            {
                errors.push(pattern_conflict(text, file, &env, slot, b));
                continue;
            }
            let mut set: Vec<(&'static str, String)> = Vec::new();
            let mut keys = Vec::new();
            if name_differs {
                set.push(("database_name", want.database_name.clone()));
                keys.push((
                    "database_name".to_string(),
                    b.database_name.clone(),
                    want.database_name.clone(),
                ));
            }
            // A placeholder follows the name; a real id (or one the user wrote) is never touched.
            let new_id = match &b.database_id {
                None => Some(want.database_id.clone()),
                Some(id) if proven && *id != want.database_id => Some(want.database_id.clone()),
                Some(_) => None,
            };
            if let Some(id) = new_id {
                set.push(("database_id", id.clone()));
                keys.push(("database_id".to_string(), b.database_id.clone(), id));
            }
            if dir_differs {
                set.push(("migrations_dir", want.migrations_dir.clone()));
                keys.push((
                    "migrations_dir".to_string(),
                    b.migrations_dir.clone(),
                    want.migrations_dir.clone(),
                ));
            }
            if let (true, Some(pattern)) = (pattern_differs, &want.migrations_pattern) {
                set.push(("migrations_pattern", pattern.clone()));
                keys.push((
                    "migrations_pattern".to_string(),
                    b.migrations_pattern.clone(),
                    pattern.clone(),
                ));
            }
            if !set.is_empty() {
                sp.update.push((i, set));
                result.changes.push(Change::Update {
                    env: env.clone(),
                    binding: want.binding.clone(),
                    line: at(b),
                    keys,
                });
            }
        }
        // Blocks of d1kit's that no slot wants any more: removed, unless they name a real
        // database that may still hold tenants (retired until `d1kit reshard` drains it).
        for (i, b) in blocks.iter().enumerate() {
            if wanted_at[i] || !is_stale_own(b, config, &worker, dir) {
                continue;
            }
            let binding = b.binding.clone().unwrap_or_default();
            let real_id = b.database_id.as_ref().filter(|_| !is_placeholder_of(b));
            let is_released = released.iter().any(|(e, r)| *e == env && *r == binding);
            let kept_id = real_id.or(b.database_id.as_ref().filter(|_| has_local_data(b, dir)));
            if let (Some(id), false) = (kept_id, is_released) {
                if let Some(db) = config
                    .databases
                    .iter()
                    .filter(|db| db.is_d1())
                    .find(|db| family_index(b, db, &worker, dir).is_some())
                {
                    result.retired.push(Retired {
                        env: env.clone(),
                        binding: binding.clone(),
                        database: db.name.clone(),
                    });
                }
                result.warnings.push(
                    Diagnostic::warning(format!(
                        "kept the [[{}]] block `{binding}` (database `{}`, id `{id}`) though the configuration no longer asks for it: its database may hold tenants, out of the application's reach until they are moved",
                        scope_name(&env),
                        b.database_name.as_deref().unwrap_or("?"),
                    ))
                    .with_help("run `d1kit migrate` and `d1kit reshard` to move its tenants to the configured shards: reshard then removes this block")
                    .in_file(&file.path)
                    .at(Location::at(text, b.offset), 1),
                );
                continue;
            }
            sp.remove.push(i);
            result.changes.push(Change::Remove {
                env: env.clone(),
                binding: binding.clone(),
                line: at(b),
            });
            if let Some(id) = real_id {
                result.warnings.push(
                    Diagnostic::warning(format!(
                        "{WOULD_REMOVE}[[{}]] block `{binding}` (database `{}`, id `{id}`): `d1kit reshard` moved its tenants; the D1 database itself still exists",
                        scope_name(&env),
                        b.database_name.as_deref().unwrap_or("?"),
                    ))
                    .with_help("delete it with `wrangler d1 delete` when you no longer need it")
                    .in_file(&file.path)
                    .at(Location::at(text, b.offset), 1),
                );
            }
        }
        // A pool laid out in the file for another number of shards, with a real database
        // among them: the hash now sends some tenants to shards that do not hold their rows.
        for db in config.databases.iter().filter(|db| db.is_d1()) {
            let family: Vec<(&FoundBlock, Option<u32>)> = blocks
                .iter()
                .filter_map(|b| Some((b, family_index(b, db, &worker, dir)?)))
                .collect();
            let Some((first, _)) = family.iter().find(|(b, _)| {
                (b.database_id.is_some() && !is_placeholder_of(b)) || has_local_data(b, dir)
            }) else {
                continue;
            };
            let was = family
                .iter()
                .map(|(_, i)| i.map_or(1, |n| n + 1))
                .max()
                .unwrap_or(1);
            if was == db.shards {
                continue;
            }
            let (low, high) = (was.min(db.shards), was.max(db.shards));
            let percent = (200 * (high - low) + high) / (2 * high);
            let how = if db.tenant_column.is_some() {
                "run `d1kit provision`, `d1kit migrate` and `d1kit reshard` to move them (offline: the application should not write meanwhile)".to_string()
            } else {
                format!("`{}` has no `tenant_column`, so d1kit cannot tell its tenants' rows apart to move them", db.name)
            };
            result.warnings.push(
                Diagnostic::warning(format!(
                    "[[{}]] `{}` goes from {was} to {} shards: about {percent}% of its tenants now route to a shard that does not hold their rows",
                    scope_name(&env),
                    db.name,
                    db.shards
                ))
                .with_help(how)
                .in_file(&file.path)
                .at(Location::at(text, first.offset), 1),
            );
        }
        // A new block goes after the kept block of its database with the next lower shard,
        // else before the one with the next higher shard, else at the end of the array.
        for (db, n, block) in adds {
            let bindings = db.bindings();
            let kept: Vec<(usize, usize)> = (0..blocks.len())
                .filter(|&i| wanted_at[i])
                .filter_map(|i| {
                    let b = blocks[i].binding.as_deref()?;
                    Some((bindings.iter().position(|w| w == b)?, i))
                })
                .collect();
            let anchor = match kept.iter().filter(|(m, _)| *m < n).max() {
                Some(&(_, i)) => Anchor::After(i),
                None => match kept.iter().filter(|(m, _)| *m > n).min() {
                    Some(&(_, i)) => match (0..i).rev().find(|j| !sp.remove.contains(j)) {
                        Some(j) => Anchor::After(j),
                        None => Anchor::Start,
                    },
                    None => Anchor::End,
                },
            };
            result.changes.push(Change::Add {
                env: env.clone(),
                block: block.clone(),
            });
            sp.add.push((anchor, block));
        }
        // A block left with the binding of a Durable Object database: wrangler wants each
        // binding name once, and d1kit drops only its own unprovisioned blocks.
        for (i, b) in blocks.iter().enumerate() {
            if sp.remove.contains(&i) {
                continue;
            }
            if let Some(db) = config
                .databases
                .iter()
                .find(|db| !db.is_d1() && b.binding.as_deref() == Some(db.binding.as_str()))
            {
                errors.push(super::durable::d1_block_left(
                    text, file, config, &env, db, b,
                ));
            }
        }
        if !sp.remove.is_empty() || !sp.update.is_empty() || !sp.add.is_empty() {
            result.scopes.push(sp);
        }
    }
    super::durable::plan(text, file, config, found, &mut result, &mut errors);
    if !errors.is_empty() {
        return Err(Diagnostics(errors));
    }
    Ok(result)
}

/// Whether `wrangler dev --local` keeps data for the block in the default state directory beside
/// the wrangler file (`.wrangler/state`): then a placeholder block holds local tenants too.
fn has_local_data(b: &FoundBlock, dir: &Path) -> bool {
    b.database_id.as_deref().is_some_and(|id| {
        d1_runtime::state_file::wrangler_state_file(dir.join(".wrangler/state"), id).is_file()
    })
}

/// Whether the block's id is d1kit's placeholder for its own name: only d1kit writes that, so
/// the block is d1kit's whatever its name or migrations_dir now say.
fn is_placeholder_of(b: &FoundBlock) -> bool {
    match (&b.database_name, &b.database_id) {
        (Some(name), Some(id)) => *id == placeholder_id(name),
        _ => false,
    }
}

/// Whether an unwanted block is d1kit's: its id is d1kit's placeholder, or it is exactly what
/// d1kit would write for a binding of a configured database's family (`BINDING`,
/// `BINDING_<n>`) that the configuration no longer asks for.
fn is_stale_own(b: &FoundBlock, config: &Config, worker: &str, dir: &Path) -> bool {
    is_placeholder_of(b)
        || config
            .databases
            .iter()
            .filter(|db| db.is_d1())
            .any(|db| family_index(b, db, worker, dir).is_some())
}

/// Which binding of `db`'s family the block is, when it is exactly what d1kit writes for it:
/// `Some(None)` for `BINDING`, `Some(Some(n))` for `BINDING_<n>`.
fn family_index(
    b: &FoundBlock,
    db: &DatabaseConfig,
    worker: &str,
    dir: &Path,
) -> Option<Option<u32>> {
    let binding = b.binding.as_ref()?;
    let index = if *binding == db.binding {
        None
    } else {
        let n = binding.strip_prefix(&db.binding)?.strip_prefix('_')?;
        if !(n == "0" || (!n.starts_with('0') && n.bytes().all(|c| c.is_ascii_digit()))) {
            return None;
        }
        Some(n.parse::<u32>().ok()?)
    };
    // The name d1kit gave this binding when the pool had that shape.
    let shape = DatabaseConfig {
        shards: if index.is_some() { 2 } else { 1 },
        ..db.clone()
    };
    let name = shape.database_name_for(worker, index.unwrap_or(0));
    let same = b.database_name.as_deref() == Some(name.as_str())
        && b.migrations_dir
            .as_deref()
            .is_some_and(|m| same_dir(dir, m, &db.migrations));
    same.then_some(index)
}

/// A block whose `migrations_pattern` is not the configuration's.
fn pattern_conflict(
    text: &str,
    file: &WranglerFile,
    env: &Option<String>,
    slot: &Slot,
    b: &FoundBlock,
) -> Diagnostic {
    let db = &slot.db.name;
    let theirs = b.migrations_pattern.as_deref().unwrap_or_default();
    let (what, help) = match &slot.block.migrations_pattern {
        None => (
            "d1kit's configuration has none, so d1kit would check and apply other files than wrangler".to_string(),
            format!(
                "add `migrations_pattern` under [package.metadata.d1kit.databases.{db}] in Cargo.toml (relative to the crate, like `migrations`): the pattern {theirs:?} names files relative to {}",
                file_name(&file.path)
            ),
        ),
        Some(ours) => (
            format!("d1kit's would be {ours:?}"),
            format!(
                "make `package.metadata.d1kit.databases.{db}.migrations_pattern` and the block agree (d1kit then keeps the block in step)"
            ),
        ),
    };
    Diagnostic::error(format!(
        "[[{}]] block `{}` has migrations_pattern = {theirs:?}, and {what}",
        scope_name(env),
        slot.block.binding,
    ))
    .with_help(help)
    .in_file(&file.path)
    .at(Location::at(text, b.offset), 1)
}

fn conflict(
    text: &str,
    file: &WranglerFile,
    config: &Config,
    env: &Option<String>,
    slot: &Slot,
    b: &FoundBlock,
    name_differs: bool,
) -> Diagnostic {
    let db = &slot.db.name;
    let (what, key) = if name_differs && b.database_name.is_some() {
        (
            format!(
                "its database_name is {:?}, d1kit's would be {:?}",
                b.database_name.as_deref().unwrap_or_default(),
                slot.block.database_name
            ),
            format!("databases.{db}.database_name"),
        )
    } else {
        (
            format!(
                "its migrations_dir is {:?}, d1kit's would be {:?}",
                b.migrations_dir.as_deref().unwrap_or_default(),
                slot.block.migrations_dir
            ),
            format!("databases.{db}.migrations"),
        )
    };
    let binding_key = if config
        .key_location(&format!("databases.{db}.binding"))
        .is_some()
    {
        format!("databases.{db}.binding")
    } else {
        format!("databases.{db}")
    };
    Diagnostic::error(format!(
        "[[{}]] block `{}` was not written by d1kit: {what}",
        scope_name(env),
        slot.block.binding,
    ))
    .with_help(format!(
        "database `{db}` wants this binding ({}), and d1kit never overwrites a block it does not own. Make them agree: set {} to match the block, or delete that line from the block (d1kit then writes its own and keeps the block's database_id), or give the database another `binding`",
        config.describe_key(&binding_key),
        config.describe_key(&key)
    ))
    .in_file(&file.path)
    .at(Location::at(text, b.offset), 1)
}
