#[derive(d1kit::Query)]
#[d1(sql = "SELECT id, title FROM notes ORDER BY id DESC LIMIT :limit")]
struct Recent {
    limit: i64,
}

fn main() {}
