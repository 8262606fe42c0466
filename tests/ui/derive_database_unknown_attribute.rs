#[derive(d1kit::Database)]
#[d1(database = "notes")]
struct Notes;

fn main() {}
