#[derive(d1kit::Database)]
#[d1(name = "note")]
struct Notes;

fn main() {}
