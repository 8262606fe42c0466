use d1kit::Database;

#[derive(Database)]
#[d1(name = "tracker")]
struct Tracker;

fn main() {
    assert_eq!(Tracker::NAME, "tracker");
    assert_eq!(Tracker::BINDING, "TRACKER");
    assert_eq!(Tracker::SHARDS, 1);
    assert!(!Tracker::MIGRATIONS.is_empty());
    assert_eq!(Tracker::binding_for("alice"), "TRACKER");
}
