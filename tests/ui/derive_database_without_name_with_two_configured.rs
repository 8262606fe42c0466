#[derive(d1kit::Database)]
struct Notes;

fn main() {}
