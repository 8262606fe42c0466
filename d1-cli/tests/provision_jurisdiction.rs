//! `d1kit provision --remote` and D1's jurisdiction `us` (`eu | fedramp | us`): taken from the
//! configuration's `jurisdiction` key and from `--jurisdiction`, and sent to the API (the D1
//! REST fake, reached through the hidden `D1KIT_API_URL`).

mod common;

use common::{describe_database, run};
use d1_fake::{FakeD1, Options};
use std::path::PathBuf;

/// The `jurisdiction` of database `name` as the fake's `GET …/database/{name}` gives it.
fn jurisdiction_of(fake: &FakeD1, name: &str) -> Option<String> {
    describe_database(fake, name)["jurisdiction"]
        .as_str()
        .map(str::to_owned)
}

fn krate(name: &str, manifest: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "d1kit-cli-jurisdiction-{name}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("migrations")).unwrap();
    std::fs::write(dir.join("Cargo.toml"), manifest).unwrap();
    std::fs::write(dir.join("wrangler.toml"), "name = \"app\"\n").unwrap();
    dir
}

#[test]
fn jurisdiction_us_comes_from_the_configuration_or_the_flag() {
    let manifest = "[package]\nname = \"app\"\n\n[package.metadata.d1kit.databases.audit]\njurisdiction = \"us\"\n\n[package.metadata.d1kit.databases.users]\n";
    let dir = krate("us", manifest);
    let fake = FakeD1::start(Options::default());

    // The configuration accepts it (`d1kit config` reads it without an error)...
    let (code, out, err) = run(&dir, &["config", "--check"], None);
    // (1: wrangler.toml lacks the blocks, which `provision` writes.)
    assert_eq!(code, 1, "{out}{err}");
    assert!(!err.contains("jurisdiction"), "{out}{err}");
    // ...and `provision --remote` creates the database there.
    let (code, out, err) = run(
        &dir,
        &["provision", "--remote", "--database", "audit"],
        Some(&fake),
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("created 1, adopted 0"), "{out}");
    assert_eq!(jurisdiction_of(&fake, "app-audit").as_deref(), Some("us"));

    // The flag takes it too.
    let (code, out, err) = run(
        &dir,
        &["provision", "--remote", "--jurisdiction", "us"],
        Some(&fake),
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("created 1, adopted 0, already provisioned 1"),
        "{out}"
    );
    assert_eq!(jurisdiction_of(&fake, "app-users").as_deref(), Some("us"));
    assert_eq!(fake.databases().len(), 2);

    // `--help` lists it with the others.
    let (code, out, err) = run(&dir, &["provision", "--help"], None);
    assert_eq!(code, 0, "{err}");
    for value in ["- eu:", "- fedramp:", "- us:"] {
        assert!(out.contains(value), "{value}: {out}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_jurisdiction_d1_does_not_know_is_refused_with_the_three_it_does() {
    let manifest = "[package]\nname = \"app\"\n\n[package.metadata.d1kit.databases.users]\njurisdiction = \"moon\"\n";
    let dir = krate("moon", manifest);
    let (code, out, err) = run(&dir, &["config", "--check"], None);
    assert_ne!(code, 0, "{out}{err}");
    assert!(
        err.contains("databases.users.jurisdiction` = `moon`") && err.contains("eu, fedramp, us"),
        "{err}"
    );
    let (code, _, err) = run(
        &dir,
        &["provision", "--remote", "--jurisdiction", "moon"],
        None,
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("eu, fedramp, us"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
