//! Golden tests of the wrangler rewrite (`d1_codegen::wrangler`): each directory of
//! `tests/wrangler/` is a crate (`Cargo.toml` with its d1kit configuration) and its wrangler file
//! as a user left it. The rewrite must give `expected.<toml|jsonc|json>` exactly (or fail with
//! the errors in `expected.err`), list the changes and warnings of `expected.changes`, and
//! change nothing when run on its own output. `D1KIT_BLESS=1` rewrites the expected files,
//! which a person then reads: only d1kit's own blocks may differ from the input.

use d1_codegen::config;
use d1_codegen::wrangler::{self, Change, Format};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn cases() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/wrangler");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("Cargo.toml").is_file())
        .collect();
    cases.sort();
    cases
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Absolute paths of the case directory removed, so messages compare on any machine.
fn relative(s: &str, dir: &Path) -> String {
    s.replace(&format!("{}/", dir.display()), "")
}

fn config_of(dir: &Path) -> config::Config {
    let manifest = dir.join("Cargo.toml");
    config::parse(&read(&manifest), dir, &manifest)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
}

fn check(dir: &Path, bless: bool) -> Vec<String> {
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    let config = config_of(dir);
    let file = wrangler::locate(&config).expect("the case has a wrangler file");
    let ext = file
        .path
        .extension()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let input = read(&file.path);
    let mut failures = Vec::new();
    let compare = |what: &str, got: String| {
        let path = dir.join(what);
        if bless {
            std::fs::write(&path, &got).unwrap();
        } else if read(&path) != got {
            return vec![format!(
                "{name}/{what} differs; got:\n{got}\n--- want:\n{}",
                read(&path)
            )];
        }
        Vec::new()
    };
    let result = wrangler::rewrite(&input, &file, &config);
    // A case either fails (expected.err) or rewrites (the other expected files), not both.
    let stale: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.starts_with("expected.") && (n == "expected.err") == result.is_ok()
        })
        .collect();
    for path in stale {
        if bless {
            std::fs::remove_file(&path).unwrap();
        } else {
            failures.push(format!("{name}: {} should not exist", path.display()));
        }
    }
    match result {
        Err(e) => {
            failures.extend(compare("expected.err", relative(&format!("{e}\n"), dir)));
        }
        Ok(out) => {
            let mut report: Vec<String> = out.changes.iter().map(Change::to_string).collect();
            report.extend(
                out.warnings
                    .iter()
                    .map(|w| relative(&format!("warning: {w}"), dir)),
            );
            failures.extend(compare("expected.changes", report.join("\n") + "\n"));
            failures.extend(compare(&format!("expected.{ext}"), out.text.clone()));
            // Running it again changes nothing.
            let again = wrangler::rewrite(&out.text, &file, &config).unwrap();
            if again.text != out.text || !again.changes.is_empty() {
                failures.push(format!(
                    "{name}: a second run changed {:?}:\n{}",
                    again.changes, again.text
                ));
            }
            // A JSON output must still be JSON (comments stripped for `.jsonc`).
            if file.format == Format::Json && ext == "json" {
                if let Err(e) = serde_json::from_str::<serde_json::Value>(&out.text) {
                    failures.push(format!("{name}: output is not JSON: {e}"));
                }
            }
        }
    }
    failures.extend(check_framed(dir, &name, &file, &config, &input));
    failures
}

/// `text` with `\r\n` line endings (and a BOM when `bom`).
fn windows(text: &str, bom: bool) -> String {
    format!(
        "{}{}",
        if bom { "\u{feff}" } else { "" },
        text.replace('\n', "\r\n")
    )
}

/// The same case with the wrangler file saved by a Windows editor (`\r\n` line endings, with
/// and without a BOM): the same changes, warnings and errors at the same lines, and the expected
/// output with the same line endings and BOM (every byte d1kit does not own stays).
fn check_framed(
    dir: &Path,
    name: &str,
    file: &wrangler::WranglerFile,
    config: &config::Config,
    input: &str,
) -> Vec<String> {
    let mut failures = Vec::new();
    let lf = wrangler::rewrite(input, file, config);
    for bom in [false, true] {
        let what = format!("{name} (CRLF{})", if bom { ", BOM" } else { "" });
        let text = windows(input, bom);
        let got = wrangler::rewrite(&text, file, config);
        // Where a diagnostic points, in the text it was measured in.
        let pointed = |d: &d1_codegen::Diagnostic, text: &str| {
            d.span.location.map(|l| {
                let at = &text[l.offset..];
                let c = at.chars().next();
                (l.line, c.filter(|c| *c != '\r').or(Some('\n')))
            })
        };
        match (&lf, got) {
            (Ok(lf), Ok(got)) => {
                let want = if lf.changes.is_empty() {
                    text.clone()
                } else if input.contains('\n') {
                    windows(&lf.text, bom)
                } else {
                    // No line to take the ending from (a new file): d1kit's own, `\n`.
                    format!("{}{}", if bom { "\u{feff}" } else { "" }, lf.text)
                };
                if got.text != want {
                    failures.push(format!("{what}: got\n{:?}\n--- want\n{want:?}", got.text));
                }
                if got.changes != lf.changes {
                    failures.push(format!("{what}: changes {:?}", got.changes));
                }
                let a: Vec<_> = lf.warnings.iter().map(|w| pointed(w, input)).collect();
                let b: Vec<_> = got.warnings.iter().map(|w| pointed(w, &text)).collect();
                if a != b {
                    failures.push(format!("{what}: warnings at {b:?}, not {a:?}"));
                }
                let again = wrangler::rewrite(&got.text, file, config);
                if !again.is_ok_and(|a| a.changes.is_empty() && a.text == got.text) {
                    failures.push(format!("{what}: a second run changed the file"));
                }
            }
            (Err(lf), Err(got)) => {
                let a: Vec<_> = lf.0.iter().map(|d| pointed(d, input)).collect();
                let b: Vec<_> = got.0.iter().map(|d| pointed(d, &text)).collect();
                if a != b
                    || (!bom && relative(&got.to_string(), dir) != relative(&lf.to_string(), dir))
                {
                    failures.push(format!("{what}: errors {got}\nat {b:?}, not {a:?}"));
                }
            }
            (_, got) => failures.push(format!("{what}: {:?}", got.map(|r| r.text))),
        }
    }
    failures
}

#[test]
fn golden() {
    let bless = std::env::var_os("D1KIT_BLESS").is_some();
    let cases = cases();
    assert!(cases.len() >= 10, "{} cases", cases.len());
    let failures: Vec<String> = cases.iter().flat_map(|c| check(c, bless)).collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Golden tests of `set_database_ids` (what `d1kit provision --remote` writes): each directory
/// of `tests/wrangler_ids/` is a crate, its wrangler file as d1kit left it (up to date, with
/// placeholders, real ids, comments, environments and other bindings) and `ids.toml`
/// (`database_name = "id"`). Writing the ids must give `expected.<ext>`, change only the
/// `database_id` values that held the placeholder of a name in `ids.toml`, be stable when run
/// again, and leave a file that the build's rewrite finds up to date.
#[test]
fn golden_database_ids() {
    let bless = std::env::var_os("D1KIT_BLESS").is_some();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/wrangler_ids");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("Cargo.toml").is_file())
        .collect();
    cases.sort();
    assert!(cases.len() >= 4, "{} cases", cases.len());
    let mut failures = Vec::new();
    for dir in &cases {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let config = config_of(dir);
        let file = wrangler::locate(&config).expect("the case has a wrangler file");
        let ext = file
            .path
            .extension()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let input = read(&file.path);
        let ids: BTreeMap<String, String> = toml::from_str(&read(&dir.join("ids.toml")))
            .unwrap_or_else(|e| panic!("{name}/ids.toml: {e}"));
        // The input is what d1kit writes: the build would not change it.
        let before = wrangler::rewrite(&input, &file, &config).unwrap();
        assert!(
            before.changes.is_empty(),
            "{name}: input not up to date: {:?}",
            before.changes
        );

        let out = wrangler::set_database_ids(&input, &file, &ids).unwrap();
        let expected = dir.join(format!("expected.{ext}"));
        if bless {
            std::fs::write(&expected, &out).unwrap();
        } else if read(&expected) != out {
            failures.push(format!(
                "{name}: differs; got:\n{out}\n--- want:\n{}",
                read(&expected)
            ));
        }
        // Only ids changed, each from its name's placeholder to the name's id.
        let blocks = wrangler::file_blocks(&input, &file).unwrap();
        let mut edited = input.clone();
        for b in blocks.iter().filter(|b| b.has_placeholder_id()) {
            let name = b.database_name.as_deref().unwrap();
            if let Some(id) = ids.get(name) {
                edited = edited.replacen(b.database_id.as_deref().unwrap(), id, 1);
            }
        }
        if edited != out {
            failures.push(format!(
                "{name}: changed more than the placeholder ids:\n{out}"
            ));
        }
        let after = wrangler::file_blocks(&out, &file).unwrap();
        assert_eq!(after.len(), blocks.len(), "{name}");
        for (b, a) in blocks.iter().zip(&after) {
            let want = match (&b.database_name, b.has_placeholder_id()) {
                (Some(n), true) => ids.get(n).or(b.database_id.as_ref()),
                _ => b.database_id.as_ref(),
            };
            assert_eq!(a.database_id.as_ref(), want, "{name}: {}", b.describe());
        }
        // Again: nothing left to write. And the build keeps the real ids.
        assert_eq!(
            wrangler::set_database_ids(&out, &file, &ids).unwrap(),
            out,
            "{name}"
        );
        let rebuilt = wrangler::rewrite(&out, &file, &config).unwrap();
        if !rebuilt.changes.is_empty() || rebuilt.text != out {
            failures.push(format!(
                "{name}: the build's rewrite would change the provisioned file: {:?}",
                rebuilt.changes
            ));
        }
        if ext == "json" {
            if let Err(e) = serde_json::from_str::<serde_json::Value>(&out) {
                failures.push(format!("{name}: output is not JSON: {e}"));
            }
        }
        // Saved by a Windows editor: the same ids written, the line endings and BOM kept.
        for bom in [false, true] {
            let text = windows(&input, bom);
            let got = wrangler::set_database_ids(&text, &file, &ids).unwrap();
            if got != windows(&out, bom) {
                failures.push(format!("{name} (CRLF, BOM {bom}): got\n{got:?}"));
            }
            let rebuilt = wrangler::rewrite(&got, &file, &config).unwrap();
            assert!(rebuilt.changes.is_empty() && rebuilt.text == got, "{name}");
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn file_blocks_lists_every_scope() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/wrangler_ids/toml_shared");
    let file = wrangler::locate(&config_of(&dir)).unwrap();
    let blocks = wrangler::file_blocks(&read(&file.path), &file).unwrap();
    let seen: Vec<String> = blocks
        .iter()
        .map(|b| format!("{} {}", b.describe(), b.has_placeholder_id()))
        .collect();
    assert_eq!(
        seen,
        [
            "[[d1_databases]] CACHE (line 5) false",
            "[[d1_databases]] USERS_0 (line 10) true",
            "[[d1_databases]] USERS_1 (line 16) true",
            "[[d1_databases]] USERS_2 (line 22) true",
            "[[env.staging.d1_databases]] USERS_0 (line 35) true",
            "[[env.staging.d1_databases]] USERS_1 (line 41) true",
            "[[env.staging.d1_databases]] USERS_2 (line 47) true",
            "[[env.legacy.d1_databases]] USERS_0 (line 57) true",
            "[[env.legacy.d1_databases]] OLD (line 58) true",
        ]
    );
    // wrangler's local mode keys a block's data by its preview id when it has one.
    let text = "[[d1_databases]]\nbinding = \"A\"\ndatabase_id = \"real\"\npreview_database_id = \"preview\"\n";
    let a = &wrangler::file_blocks(text, &file).unwrap()[0];
    assert_eq!(a.local_id(), Some("preview"));
    assert!(!a.has_placeholder_id());
    // Nothing to list in an empty file; a broken one is an error with its line.
    assert!(wrangler::file_blocks("", &file).unwrap().is_empty());
    let err = wrangler::file_blocks("a = \"x\"\n[[d1_databases]\n", &file).unwrap_err();
    assert!(err.to_string().contains("not valid TOML"), "{err}");
}

/// A fresh directory under the system's temporary one.
fn temp_crate(name: &str, manifest: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("d1kit-wrangler-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("migrations")).unwrap();
    std::fs::write(dir.join("Cargo.toml"), manifest).unwrap();
    dir
}

const MANIFEST: &str =
    "[package]\nname = \"app\"\n\n[package.metadata.d1kit.databases.users]\nshards = 2\n";

#[test]
fn sync_writes_only_when_something_changed() {
    let dir = temp_crate("sync", MANIFEST);
    let path = dir.join("wrangler.toml");
    std::fs::write(&path, "name = \"app\" # mine\n").unwrap();
    let config = config_of(&dir);
    let first = wrangler::sync(&config, true).unwrap().unwrap();
    assert_eq!(first.rewrite.changes.len(), 2);
    let text = read(&path);
    assert!(text.starts_with("name = \"app\" # mine\n"), "{text}");
    assert!(text.contains("binding = \"USERS_1\""), "{text}");
    let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let second = wrangler::sync(&config, true).unwrap().unwrap();
    assert!(second.rewrite.changes.is_empty());
    assert_eq!(
        std::fs::metadata(&path).unwrap().modified().unwrap(),
        modified
    );
    // --check: reports, writes nothing.
    std::fs::write(&path, "name = \"app\"\n").unwrap();
    let check = wrangler::sync(&config, false).unwrap().unwrap();
    assert_eq!(check.rewrite.changes.len(), 2);
    assert_eq!(read(&path), "name = \"app\"\n");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn which_file_is_managed() {
    let dir = temp_crate("locate", MANIFEST);
    // No wrangler file and none configured: nothing to do, nothing created.
    assert_eq!(wrangler::locate(&config_of(&dir)), None);
    assert!(wrangler::sync(&config_of(&dir), true).unwrap().is_none());
    assert!(!dir.join("wrangler.toml").exists());
    // wrangler's own order: wrangler.json, then wrangler.jsonc, then wrangler.toml.
    std::fs::write(dir.join("wrangler.toml"), "").unwrap();
    std::fs::write(dir.join("wrangler.jsonc"), "{}").unwrap();
    let found = wrangler::locate(&config_of(&dir)).unwrap();
    assert_eq!(found.path, dir.join("wrangler.jsonc"));
    assert_eq!(found.format, Format::Json);
    // `wrangler = false`: never touched.
    let off = "[package]\nname = \"app\"\n\n[package.metadata.d1kit]\nwrangler = false\n";
    std::fs::write(dir.join("Cargo.toml"), off).unwrap();
    assert_eq!(wrangler::locate(&config_of(&dir)), None);
    // A configured path that does not exist yet is created.
    let path = "[package]\nname = \"app\"\n\n[package.metadata.d1kit]\nwrangler = \"deploy/wrangler.toml\"\n";
    std::fs::write(dir.join("Cargo.toml"), path).unwrap();
    std::fs::create_dir_all(dir.join("deploy")).unwrap();
    let synced = wrangler::sync(&config_of(&dir), true).unwrap().unwrap();
    assert!(!synced.existed);
    let text = read(&dir.join("deploy/wrangler.toml"));
    assert!(
        text.starts_with("[[d1_databases]]\nbinding = \"DB\"\n"),
        "{text}"
    );
    assert!(
        text.contains("migrations_dir = \"../migrations\""),
        "{text}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Releasing a drained retired shard (`d1kit reshard`): the warning says what the rewrite
/// would remove until the text is written, then what it removed.
#[test]
fn a_released_block_would_be_removed_until_written() {
    let dir = temp_crate("release", &MANIFEST.replace("shards = 2", "shards = 3"));
    let three = config_of(&dir);
    let file = wrangler::WranglerFile {
        path: dir.join("wrangler.toml"),
        format: Format::Toml,
    };
    let text = wrangler::rewrite("name = \"app\"\n", &file, &three)
        .unwrap()
        .text;
    let real = "0a0a0a0a-0000-4000-8000-000000000000";
    let text = text.replace(&wrangler::placeholder_id("app-users-2"), real);
    std::fs::write(dir.join("Cargo.toml"), MANIFEST).unwrap();
    let two = config_of(&dir);
    // Not released: kept, as a retired shard.
    let kept = wrangler::rewrite(&text, &file, &two).unwrap();
    assert!(kept.changes.is_empty(), "{:?}", kept.changes);
    assert!(kept.warnings[0]
        .message
        .starts_with("kept the [[d1_databases]] block `USERS_2`"));
    // Released: removed from the text, said as a proposal.
    let released = [(None, "USERS_2".to_string())];
    let mut out = wrangler::rewrite_releasing(&text, &file, &two, &released).unwrap();
    assert_eq!(
        out.changes
            .iter()
            .map(Change::to_string)
            .collect::<Vec<_>>(),
        ["- [[d1_databases]] USERS_2 (line 15): no longer configured"]
    );
    let said = |r: &wrangler::Rewrite| {
        r.warnings
            .iter()
            .map(|w| w.message.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        said(&out)[..1],
        [format!("would remove the [[d1_databases]] block `USERS_2` (database `app-users-2`, id `{real}`): `d1kit reshard` moved its tenants; the D1 database itself still exists")]
    );
    assert!(!out.text.contains("USERS_2"));
    out.written();
    assert!(said(&out)[0].starts_with("removed the [[d1_databases]] block `USERS_2`"));
    std::fs::remove_dir_all(&dir).unwrap();
}

mod mutations {
    use super::*;
    use proptest::prelude::*;

    /// Each golden input (as it is, or with `\r\n` line endings, or those and a BOM: `framing`
    /// 0, 1, 2) with one byte range replaced by arbitrary text (stray `\r`s and mixed line
    /// endings included): the rewrite returns a result or errors, never panics, and whatever it
    /// writes reads back with no change left.
    fn mutated(case: &str, framing: u8, start: usize, len: usize, insert: &str) {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/wrangler")
            .join(case);
        let config = config_of(&dir);
        let file = wrangler::locate(&config).unwrap();
        let input = match framing {
            0 => read(&file.path),
            n => windows(&read(&file.path), n == 2),
        };
        let mut start = start % (input.len() + 1);
        while !input.is_char_boundary(start) {
            start -= 1;
        }
        let mut end = (start + len).min(input.len());
        while !input.is_char_boundary(end) {
            end -= 1;
        }
        let text = format!("{}{insert}{}", &input[..start], &input[end..]);
        // Writing ids never panics either, and what it writes reads back.
        if let Ok(blocks) = wrangler::file_blocks(&text, &file) {
            let ids: BTreeMap<String, String> = blocks
                .iter()
                .filter_map(|b| b.database_name.clone())
                .map(|n| (n, "0a0a0a0a-0000-4000-8000-000000000000".to_string()))
                .collect();
            let out = wrangler::set_database_ids(&text, &file, &ids).unwrap();
            let again = wrangler::file_blocks(&out, &file).unwrap();
            assert_eq!(again.len(), blocks.len(), "{text}\n→\n{out}");
        }
        if let Ok(out) = wrangler::rewrite(&text, &file, &config) {
            // What the rewrite gives must read back (an error here is output d1kit cannot
            // read again, or conflicts with itself), with nothing left to change.
            let again = wrangler::rewrite(&out.text, &file, &config)
                .unwrap_or_else(|e| panic!("{text}\n→\n{}\n→ does not read back: {e}", out.text));
            assert!(
                again.changes.is_empty(),
                "{text}\n→\n{}\n→ {:?}",
                out.text,
                again.changes
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1500, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn toml_never_panics(framing in 0u8..3, start in 0usize..4000, len in 0usize..40, insert in "[\\[\\]{}\"'#=,\\r\\n a-z_0-9]{0,12}") {
            mutated("toml_full", framing, start, len, &insert);
            mutated("toml_shrink", framing, start, len, &insert);
            mutated("durable_toml_full", framing, start, len, &insert);
            mutated("durable_envs", framing, start, len, &insert);
        }

        #[test]
        fn jsonc_never_panics(framing in 0u8..3, start in 0usize..4000, len in 0usize..40, insert in "[\\[\\]{}\"/*,:\\r\\n a-z_0-9]{0,12}") {
            mutated("jsonc_full", framing, start, len, &insert);
            mutated("jsonc_shrink", framing, start, len, &insert);
            mutated("durable_jsonc", framing, start, len, &insert);
        }
    }
}

/// The forms wrangler accepts for `durable_objects.bindings` and `migrations` in TOML (arrays
/// of tables, inline arrays, dotted keys, inline tables) each get the entry in their own form;
/// `exports` (wrangler's declarative alternative, refused beside `migrations`) is checked, not
/// written; shapes wrangler would refuse are errors, not rewritten.
#[test]
fn durable_objects_in_every_toml_form() {
    let dir = temp_crate(
        "durable",
        "[package]\nname = \"app\"\n\n[package.metadata.d1kit.databases.notes]\ndurable_object = \"UserNotes\"\n",
    );
    let config = config_of(&dir);
    let file = wrangler::WranglerFile {
        path: dir.join("wrangler.toml"),
        format: Format::Toml,
    };
    let rewrite = |text: &str| wrangler::rewrite(text, &file, &config);
    let binding = "{ name = \"NOTES\", class_name = \"UserNotes\" }";
    let migration = "{ tag = \"d1kit-UserNotes\", new_sqlite_classes = [\"UserNotes\"] }";
    for (input, want) in [
        (
            "migrations = []\n\n[durable_objects]\nbindings = []\n".to_string(),
            format!("migrations = [{migration}]\n\n[durable_objects]\nbindings = [{binding}]\n"),
        ),
        (
            "migrations = [\n  { tag = \"v1\", new_classes = [\"A\"] }, # a\n]\ndurable_objects = { bindings = [{ name = \"A\", class_name = \"A\" }] }\n".to_string(),
            format!("migrations = [\n  {{ tag = \"v1\", new_classes = [\"A\"] }}, # a\n  {migration},\n]\ndurable_objects = {{ bindings = [{{ name = \"A\", class_name = \"A\" }}, {binding}] }}\n"),
        ),
        (
            "durable_objects.other = 1\n".to_string(),
            format!("durable_objects.other = 1\ndurable_objects.bindings = [{binding}]\n\n[[migrations]]\ntag = \"d1kit-UserNotes\"\nnew_sqlite_classes = [\"UserNotes\"]\n"),
        ),
        (
            "[durable_objects]\n# mine\n\n[env.x]\nname = \"y\"\n".to_string(),
            // The comment above `[env.x]` is that header's (TOML's reading): it stays above it.
            "[durable_objects]\n\n[[durable_objects.bindings]]\nname = \"NOTES\"\nclass_name = \"UserNotes\"\n\n[[migrations]]\ntag = \"d1kit-UserNotes\"\nnew_sqlite_classes = [\"UserNotes\"]\n# mine\n\n[env.x]\nname = \"y\"\n".to_string(),
        ),
        (
            // Declared in `exports`: no migration is written.
            "[exports]\nUserNotes = { type = \"durable-object\", storage = \"sqlite\" }\n".to_string(),
            "[exports]\nUserNotes = { type = \"durable-object\", storage = \"sqlite\" }\n\n[[durable_objects.bindings]]\nname = \"NOTES\"\nclass_name = \"UserNotes\"\n".to_string(),
        ),
    ] {
        let out = rewrite(&input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(out.text, want, "{input}");
        let again = rewrite(&out.text).unwrap();
        assert!(again.changes.is_empty(), "{}: {:?}", out.text, again.changes);
    }
    for (input, says) in [
        ("durable_objects = 1\n", "`durable_objects` in `wrangler.toml` is a number, boolean or date, not a table"),
        ("[durable_objects]\nbindings = \"NOTES\"\n", "`durable_objects.bindings` in `wrangler.toml` is a string, not an array"),
        ("[durable_objects]\nbindings = [\"NOTES\"]\n", "an element of `durable_objects.bindings`"),
        ("migrations = { tag = \"v1\" }\n", "`migrations` in `wrangler.toml` is a table, not an array"),
        (
            "[[durable_objects.bindings]]\nname = \"NOTES\"\nclass_name = \"UserNotes\"\n\n[[durable_objects.bindings]]\nname = \"NOTES\"\nclass_name = \"UserNotes\"\n",
            "`wrangler.toml` has 2 [[durable_objects.bindings]] entries named `NOTES` (lines 1, 5): wrangler takes one",
        ),
        (
            "[[durable_objects.bindings]]\nname = \"NOTES\"\n",
            "[[durable_objects.bindings]] entry `NOTES` in `wrangler.toml` (line 1) has no `class_name`",
        ),
        (
            "[exports]\nUserNotes = { type = \"durable-object\", storage = \"kv\" }\n",
            "`wrangler.toml` declares its Durable Object classes in `exports` (line 1), which wrangler does not allow beside `migrations`, and it does not declare `UserNotes` as a live",
        ),
        (
            "[exports]\nOther = { type = \"durable-object\", storage = \"sqlite\" }\n",
            "and it has no entry for `UserNotes`",
        ),
    ] {
        let e = rewrite(input).expect_err(input).to_string();
        assert!(e.contains(says), "{input}: {e}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
