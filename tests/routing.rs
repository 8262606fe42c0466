//! The wrangler blocks `cargo build` writes and the Worker's routing name the same bindings:
//! d1-codegen's configuration (what goes into the wrangler file) against what
//! `#[derive(Database)]` routes tenants to at run time, for this package's 4-shard `notes`
//! database and a single-database `tracker`.

use d1kit::Database;

#[derive(Database)]
#[d1(name = "notes")]
struct Notes;

#[derive(Database)]
#[d1(name = "tracker")]
struct Tracker;

fn configured_bindings(name: &str) -> Vec<String> {
    let config = d1_codegen::config::load(std::path::Path::new(env!("CARGO_MANIFEST_DIR")))
        .expect("this package's configuration loads");
    config
        .database(Some(name))
        .expect("the database is configured")
        .bindings()
}

#[test]
fn every_tenant_routes_to_a_binding_the_wrangler_file_declares() {
    let bindings = configured_bindings("notes");
    assert_eq!(bindings, ["NOTES_0", "NOTES_1", "NOTES_2", "NOTES_3"]);
    for n in 0..1000 {
        let tenant = format!("user-{n}");
        let shard = Notes::shard_for(&tenant);
        assert_eq!(
            <Notes as Database>::binding_for(&tenant),
            bindings[shard as usize],
            "{tenant}"
        );
    }
    for (shard, binding) in bindings.iter().enumerate() {
        assert_eq!(&<Notes as Database>::binding_of(shard as u32), binding);
    }
}

#[test]
fn a_single_database_is_bound_without_a_suffix() {
    assert_eq!(configured_bindings("tracker"), ["TRACKER"]);
    assert_eq!(<Tracker as Database>::binding_for("anyone"), "TRACKER");
}
