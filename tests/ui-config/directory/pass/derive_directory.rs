// A pool with `directory = "routing"`: #[derive(Database)] names the directory's Worker binding
// (the binding configured for `routing`, not its name) in DIRECTORY, which the Worker's
// `connect_routed` opens. The directory itself, like any database without one, has None.
use d1kit::Database;

#[derive(Database)]
#[d1(name = "app")]
struct App;

#[derive(Database)]
#[d1(name = "routing")]
struct Routing;

fn main() {
    assert_eq!(App::NAME, "app");
    assert_eq!(App::SHARDS, 3);
    assert_eq!(App::DIRECTORY, Some("APP_ROUTING"));
    assert_eq!(Routing::BINDING, "APP_ROUTING");
    assert_eq!(Routing::SHARDS, 1);
    assert_eq!(Routing::DIRECTORY, None);
}
