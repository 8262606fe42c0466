//! `#[derive(Database)]` of a Durable Object database (`durable_object = "ClassName"`): the
//! class in `DURABLE_OBJECT`, one "shard", no shard routing, and the Durable Object arm of
//! `__database_runtime!` instead of the D1 ones; a D1 database beside it keeps its routing and
//! `DURABLE_OBJECT = None`. The expansion is read as text (what the proc macro emits).

use proc_macro2::{Ident, Span};

/// Whitespace removed: the token stream's spacing is not what is checked.
fn squeeze(tokens: proc_macro2::TokenStream) -> String {
    tokens.to_string().split_whitespace().collect()
}

#[test]
fn a_durable_database_derives_its_class_and_no_routing() {
    let dir = std::env::temp_dir().join(format!("d1kit-durable-derive-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("migrations/notes")).unwrap();
    std::fs::create_dir_all(dir.join("migrations/users")).unwrap();
    std::fs::write(
        dir.join("migrations/notes/0001_notes.sql"),
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, title TEXT NOT NULL);\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        "[package]\nname = \"app\"\nversion = \"0.1.0\"\n\n[package.metadata.d1kit.databases.notes]\nmigrations = \"migrations/notes\"\ndurable_object = \"UserNotes\"\n\n[package.metadata.d1kit.databases.users]\nmigrations = \"migrations/users\"\nshards = 2\n",
    )
    .unwrap();
    // The macros read the crate's configuration from here (as the UI tests do).
    std::env::set_var("D1KIT_MANIFEST_DIR", &dir);

    let notes = Ident::new("Notes", Span::call_site());
    let out = squeeze(d1_codegen::expand::derive_database(
        &notes,
        Some(("notes", Span::call_site())),
    ));
    assert!(!out.contains("compile_error"), "{out}");
    for want in [
        "impl::d1kit::DatabaseforNotes{",
        "constBINDING:&'staticstr=\"NOTES\";",
        "constSHARDS:u32=1u32;",
        "constDURABLE_OBJECT:::std::option::Option<&'staticstr>=::std::option::Option::Some(\"UserNotes\");",
        "::d1kit::__database_runtime!(Notes,durable);",
        "name:\"0001_notes.sql\"",
    ] {
        assert!(out.contains(want), "{want} not in {out}");
    }
    assert!(!out.contains("fnshard_for"), "{out}");
    assert!(!out.contains("__database_runtime!(Notes);"), "{out}");

    let users = Ident::new("Users", Span::call_site());
    let out = squeeze(d1_codegen::expand::derive_database(
        &users,
        Some(("users", Span::call_site())),
    ));
    for want in [
        "constSHARDS:u32=2u32;",
        "constDURABLE_OBJECT:::std::option::Option<&'staticstr>=::std::option::Option::None;",
        "pubfnshard_for(tenant:&str)->u32",
        "::d1kit::__database_runtime!(Users);",
    ] {
        assert!(out.contains(want), "{want} not in {out}");
    }
    std::env::remove_var("D1KIT_MANIFEST_DIR");
    let _ = std::fs::remove_dir_all(&dir);
}
