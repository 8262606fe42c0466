//! The wrangler file on disk, as `cargo build` (`wrangler::sync`) and `d1kit provision`
//! (`wrangler::write`) write it: through a symbolic link, in place when it has other hard
//! links, with its permissions and owner kept, never over a read-only file, and with errors
//! that name what could not be written.

use d1_codegen::config;
use d1_codegen::wrangler;
use std::path::{Path, PathBuf};

/// A fresh crate directory under the system's temporary one.
fn temp_crate(name: &str, manifest: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("d1kit-wfiles-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("migrations")).unwrap();
    std::fs::write(dir.join("Cargo.toml"), manifest).unwrap();
    dir
}

fn config_of(dir: &Path) -> config::Config {
    let manifest = dir.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    config::parse(&text, dir, &manifest).unwrap()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

const MANIFEST: &str =
    "[package]\nname = \"app\"\n\n[package.metadata.d1kit.databases.users]\nshards = 2\n";

const BEFORE: &str = "name = \"app\" # mine\n";

/// The temporary files d1kit may have left in `dir` (none, after any write, failed or not,
/// except an in-place write's saved text).
fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".d1kit-"))
        .collect()
}

/// The name `wrangler::write` gives its temporary file for `name` in this process.
fn temp_name(name: &str) -> String {
    format!(".{name}.d1kit-{}.tmp", std::process::id())
}

#[test]
fn a_stale_temporary_file_is_replaced_not_written_through() {
    let dir = temp_crate("stale", MANIFEST);
    let path = dir.join("wrangler.toml");
    std::fs::write(&path, BEFORE).unwrap();
    // An earlier run of the same process id left its temporary file.
    std::fs::write(dir.join(temp_name("wrangler.toml")), "stale").unwrap();
    wrangler::sync(&config_of(&dir), true).unwrap().unwrap();
    assert!(read(&path).contains("binding = \"USERS_1\""));
    assert!(leftovers(&dir).is_empty(), "{:?}", leftovers(&dir));
    #[cfg(unix)]
    {
        // A link planted at the temporary path is removed, never followed.
        let victim = dir.join("victim.txt");
        std::fs::write(&victim, "mine").unwrap();
        std::os::unix::fs::symlink(&victim, dir.join(temp_name("wrangler.toml"))).unwrap();
        std::fs::write(&path, BEFORE).unwrap();
        wrangler::sync(&config_of(&dir), true).unwrap().unwrap();
        assert_eq!(read(&victim), "mine");
        assert!(read(&path).contains("binding = \"USERS_1\""));
        assert!(leftovers(&dir).is_empty(), "{:?}", leftovers(&dir));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_temporary_file_that_cannot_be_created_names_it_and_its_directory() {
    let dir = temp_crate("notemp", MANIFEST);
    let path = dir.join("wrangler.toml");
    std::fs::write(&path, BEFORE).unwrap();
    // A directory where the temporary file goes: it can be neither created nor removed (this
    // works as root too, which a read-only directory does not stop).
    let tmp = dir.join(temp_name("wrangler.toml"));
    std::fs::create_dir_all(tmp.join("x")).unwrap();
    let err = wrangler::sync(&config_of(&dir), true).unwrap_err();
    let d = &err.0[0];
    assert!(
        d.message.starts_with(&format!(
            "cannot create the temporary file `{}` in `{}` to update `{}`: ",
            temp_name("wrangler.toml"),
            dir.display(),
            path.display()
        )),
        "{err}"
    );
    assert!(
        d.help
            .as_deref()
            .unwrap()
            .contains("directory must be writable"),
        "{err}"
    );
    // The wrangler file is not what failed: the error is not given to it.
    assert_eq!(d.span.file, None, "{err}");
    assert_eq!(read(&path), BEFORE);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[cfg(unix)]
mod unix {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    fn set_mode(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    /// Whether this process ignores file permissions (root): then a read-only directory does
    /// not stop it.
    fn privileged(dir: &Path) -> bool {
        let probe = dir.join("probe");
        let ok = std::fs::write(&probe, "").is_ok();
        let _ = std::fs::remove_file(&probe);
        ok
    }

    #[test]
    fn a_symlink_is_written_through() {
        let dir = temp_crate("symlink", MANIFEST);
        std::fs::create_dir_all(dir.join("deploy")).unwrap();
        std::fs::create_dir_all(dir.join("config")).unwrap();
        let real = dir.join("deploy/real.toml");
        std::fs::write(&real, BEFORE).unwrap();
        set_mode(&real, 0o640);
        // wrangler.toml → config/wrangler.toml → ../deploy/real.toml: relative links, followed
        // hop by hop.
        let link = dir.join("wrangler.toml");
        std::os::unix::fs::symlink("config/wrangler.toml", &link).unwrap();
        std::os::unix::fs::symlink("../deploy/real.toml", dir.join("config/wrangler.toml"))
            .unwrap();

        let config = config_of(&dir);
        let synced = wrangler::sync(&config, true).unwrap().unwrap();
        assert_eq!(synced.rewrite.changes.len(), 2);
        for l in [&link, &dir.join("config/wrangler.toml")] {
            assert!(std::fs::symlink_metadata(l).unwrap().is_symlink(), "{l:?}");
        }
        assert_eq!(
            std::fs::read_link(&link).unwrap(),
            Path::new("config/wrangler.toml")
        );
        let text = read(&real);
        assert!(text.starts_with(BEFORE), "{text}");
        assert!(text.contains("binding = \"USERS_1\""), "{text}");
        assert_eq!(mode(&real), 0o640);
        for d in ["", "deploy", "config"] {
            assert!(leftovers(&dir.join(d)).is_empty(), "{d}");
        }

        // The ids `d1kit provision` writes go through the link too.
        let file = wrangler::locate(&config).unwrap();
        let name = "app-users-0".to_string();
        let ids = [(name, "0a0a0a0a-0000-4000-8000-000000000000".to_string())].into();
        let new = wrangler::set_database_ids(&read(&link), &file, &ids).unwrap();
        wrangler::write(&file, &new).unwrap();
        assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
        assert!(read(&real).contains("0a0a0a0a-0000-4000-8000-000000000000"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_dangling_symlink_gets_its_file_created() {
        let manifest = format!(
            "{}\n[package.metadata.d1kit]\nwrangler = \"wrangler.toml\"\n",
            MANIFEST
        );
        let dir = temp_crate("dangling", &manifest);
        std::fs::create_dir_all(dir.join("deploy")).unwrap();
        let link = dir.join("wrangler.toml");
        std::os::unix::fs::symlink("deploy/new.toml", &link).unwrap();
        let synced = wrangler::sync(&config_of(&dir), true).unwrap().unwrap();
        assert!(!synced.existed);
        assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
        assert!(read(&dir.join("deploy/new.toml")).contains("binding = \"USERS_0\""));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_hard_linked_file_is_written_in_place() {
        let dir = temp_crate("hardlink", MANIFEST);
        let path = dir.join("wrangler.toml");
        let other = dir.join("deploy.toml");
        std::fs::write(&path, BEFORE).unwrap();
        set_mode(&path, 0o600);
        std::fs::hard_link(&path, &other).unwrap();
        let inode = std::fs::metadata(&path).unwrap().ino();

        wrangler::sync(&config_of(&dir), true).unwrap().unwrap();
        // One file under both names, written in place: the same inode, the same mode.
        let text = read(&path);
        assert!(text.contains("binding = \"USERS_1\""), "{text}");
        assert_eq!(read(&other), text);
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!((meta.ino(), meta.nlink()), (inode, 2));
        assert_eq!(mode(&path), 0o600);
        assert!(leftovers(&dir).is_empty(), "{:?}", leftovers(&dir));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn permissions_and_owner_are_kept() {
        let dir = temp_crate("mode", MANIFEST);
        let path = dir.join("wrangler.toml");
        for m in [0o600, 0o640, 0o604, 0o664] {
            std::fs::write(&path, BEFORE).unwrap();
            set_mode(&path, m);
            wrangler::sync(&config_of(&dir), true).unwrap().unwrap();
            assert!(read(&path).contains("USERS_1"));
            assert_eq!(mode(&path), m, "{m:o}");
        }
        // As root, the file's owner and group are given back to the new file too.
        if std::fs::metadata(&path).unwrap().uid() == 0 {
            std::fs::write(&path, BEFORE).unwrap();
            std::os::unix::fs::chown(&path, Some(4242), Some(4343)).unwrap();
            wrangler::sync(&config_of(&dir), true).unwrap().unwrap();
            let meta = std::fs::metadata(&path).unwrap();
            assert_eq!((meta.uid(), meta.gid()), (4242, 4343));
            assert!(read(&path).contains("USERS_1"));
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_read_only_file_is_refused_naming_it() {
        let dir = temp_crate("readonly", MANIFEST);
        let path = dir.join("wrangler.toml");
        std::fs::write(&path, BEFORE).unwrap();
        set_mode(&path, 0o444);
        let config = config_of(&dir);

        let err = wrangler::sync(&config, true).unwrap_err();
        let d = &err.0[0];
        assert_eq!(
            d.message,
            format!(
                "`{}` is read-only: d1kit does not overwrite it",
                path.display()
            )
        );
        assert_eq!(d.span.file.as_deref(), Some(path.as_path()));
        assert!(
            d.help
                .as_deref()
                .unwrap()
                .starts_with("make `wrangler.toml` writable"),
            "{err}"
        );
        assert_eq!(read(&path), BEFORE);
        assert_eq!(mode(&path), 0o444);
        assert!(leftovers(&dir).is_empty(), "{:?}", leftovers(&dir));
        // Writing ids (`d1kit provision`) is refused the same way.
        let file = wrangler::locate(&config).unwrap();
        let err = wrangler::write(&file, "x").unwrap_err();
        assert!(err.0[0].message.contains("is read-only"), "{err}");
        assert_eq!(read(&path), BEFORE);
        // Reading it is fine: `--check` says what it would change.
        let check = wrangler::sync(&config, false).unwrap().unwrap();
        assert_eq!(check.rewrite.changes.len(), 2);
        // Nothing to change: nothing written, no error.
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, &check.rewrite.text).unwrap();
        set_mode(&path, 0o444);
        let synced = wrangler::sync(&config, true).unwrap().unwrap();
        assert!(synced.rewrite.changes.is_empty());
        set_mode(&path, 0o644);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_read_only_directory_is_named() {
        let dir = temp_crate("rodir", MANIFEST);
        let deploy = dir.join("deploy");
        std::fs::create_dir_all(&deploy).unwrap();
        let path = deploy.join("wrangler.toml");
        std::fs::write(&path, BEFORE).unwrap();
        std::fs::write(
            dir.join("Cargo.toml"),
            format!("{MANIFEST}\n[package.metadata.d1kit]\nwrangler = \"deploy/wrangler.toml\"\n"),
        )
        .unwrap();
        set_mode(&deploy, 0o555);
        if !privileged(&deploy) {
            let err = wrangler::sync(&config_of(&dir), true).unwrap_err();
            let message = &err.0[0].message;
            assert!(
                message.starts_with(&format!(
                    "cannot create the temporary file `{}` in `{}` to update `{}`: ",
                    temp_name("wrangler.toml"),
                    deploy.display(),
                    path.display()
                )),
                "{err}"
            );
            assert!(message.contains("ermission denied"), "{err}");
            assert_eq!(read(&path), BEFORE);
        }
        set_mode(&deploy, 0o755);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

/// `migrations_pattern` reaches the block in both formats, is added to a block of d1kit's
/// that lacks it, and a pattern d1kit was not told about is an error, never overwritten.
#[test]
fn the_migrations_pattern_is_written_and_a_foreign_one_is_refused() {
    let manifest = "[package]\nname = \"app\"\n\n[package.metadata.d1kit.databases.blog]\nmigrations = \"prisma/migrations\"\nmigrations_pattern = \"prisma/migrations/*/migration.sql\"\n";
    let dir = temp_crate("pattern", manifest);
    std::fs::create_dir_all(dir.join("prisma/migrations")).unwrap();
    for (name, before) in [
        ("wrangler.toml", "name = \"app\"\n"),
        ("wrangler.jsonc", "{\n  // mine\n  \"name\": \"app\"\n}\n"),
    ] {
        let path = dir.join(name);
        let _ = std::fs::remove_file(dir.join("wrangler.toml"));
        let _ = std::fs::remove_file(dir.join("wrangler.jsonc"));
        std::fs::write(&path, before).unwrap();
        wrangler::sync(&config_of(&dir), true).unwrap().unwrap();
        let text = read(&path);
        assert!(
            text.contains("migrations_pattern")
                && text.contains("prisma/migrations/*/migration.sql"),
            "{name}:\n{text}"
        );
        // Written once: a second sync changes nothing.
        wrangler::sync(&config_of(&dir), true).unwrap().unwrap();
        assert_eq!(read(&path), text);
    }
    std::fs::remove_file(dir.join("wrangler.jsonc")).unwrap();

    // A block of d1kit's written before the key existed gets it.
    let path = dir.join("wrangler.toml");
    std::fs::write(&path, "name = \"app\"\n").unwrap();
    wrangler::sync(&config_of(&dir), true).unwrap().unwrap();
    let full = read(&path);
    let without: String = full
        .lines()
        .filter(|l| !l.starts_with("migrations_pattern"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&path, &without).unwrap();
    wrangler::sync(&config_of(&dir), true).unwrap().unwrap();
    assert_eq!(read(&path), full);

    // The user's own block with a pattern d1kit was not told about: refused, file untouched.
    std::fs::write(
        dir.join("Cargo.toml"),
        "[package]\nname = \"app\"\n\n[package.metadata.d1kit.databases.blog]\nmigrations = \"prisma/migrations\"\n",
    )
    .unwrap();
    let mine = "name = \"app\"\n\n[[d1_databases]]\nbinding = \"BLOG\"\ndatabase_name = \"app-blog\"\ndatabase_id = \"0f2ac74e-3c57-4c45-9d64-5b8b5a1c0a11\"\nmigrations_dir = \"prisma/migrations\"\nmigrations_pattern = \"prisma/migrations/*/migration.sql\"\n";
    std::fs::write(&path, mine).unwrap();
    let err = wrangler::sync(&config_of(&dir), true).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("block `BLOG` has migrations_pattern = \"prisma/migrations/*/migration.sql\", and d1kit's configuration has none"),
        "{message}"
    );
    assert!(message.contains("add `migrations_pattern`"), "{message}");
    assert_eq!(read(&path), mine);
    std::fs::remove_dir_all(&dir).unwrap();
}
