#[derive(d1kit::Database)]
struct Users;

fn main() {}
