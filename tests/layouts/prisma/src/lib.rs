//! A crate whose migrations Prisma Migrate wrote
//! (`prisma/migrations/<timestamp>_<name>/migration.sql`, `migration_lock.toml` at the top):
//! its queries are checked against them at compile time, through `migrations_pattern`, and its
//! tests apply them on the local backend.

use d1kit::local;
use d1kit::prelude::*;

/// The database: migrations embedded under the names wrangler records
/// (`20251002081512_init/migration.sql`, ...).
#[derive(Database)]
pub struct Blog;

/// A published post with its author.
#[derive(Row, Debug, PartialEq)]
pub struct Published {
    /// `Post.slug`: required since the third migration.
    pub slug: String,
    /// `Post.title`.
    pub title: String,
    /// `User.name`, which may be NULL.
    pub author: Option<String>,
}

/// Adds a user; their id.
pub fn add_user(db: &local::Database, email: &str, name: Option<&str>) -> d1kit::Result<i64> {
    let done = local::block_on(
        sql!(
            blog,
            r#"INSERT INTO "User" (email, name) VALUES (?1, ?2)"#,
            email,
            name
        )
        .run(db),
    )?;
    Ok(done.last_row_id)
}

/// Publishes a post by `author`.
pub fn publish(db: &local::Database, author: i64, slug: &str, title: &str) -> d1kit::Result<()> {
    local::block_on(
        sql!(
            blog,
            r#"INSERT INTO "Post" (title, slug, published, "authorId") VALUES (?1, ?2, 1, ?3)"#,
            title,
            slug,
            author
        )
        .run(db),
    )?;
    Ok(())
}

/// The published posts, newest first.
pub fn published(db: &local::Database) -> d1kit::Result<Vec<Published>> {
    local::block_on(
        sql_as!(
            blog,
            Published,
            r#"SELECT p.slug, p.title, u.name AS author FROM "Post" p JOIN "User" u ON u.id = p."authorId" WHERE p.published ORDER BY p.id DESC"#
        )
        .all(db),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nested_migrations_are_embedded_in_wranglers_order_and_apply() {
        let names: Vec<&str> = Blog::MIGRATIONS.iter().map(|m| m.name).collect();
        assert_eq!(
            names,
            [
                "20251002081512_init/migration.sql",
                "20251009143020_add_posts/migration.sql",
                "20251104090000_post_slug_required/migration.sql",
            ]
        );
        let db = local::Database::open_in_memory().unwrap();
        assert_eq!(db.migrate_to::<Blog>().unwrap().applied, names);
        let ada = add_user(&db, "ada@example.com", Some("Ada")).unwrap();
        let anon = add_user(&db, "anon@example.com", None).unwrap();
        publish(&db, ada, "hello", "Hello").unwrap();
        publish(&db, anon, "second", "Second").unwrap();
        assert_eq!(
            published(&db).unwrap(),
            [
                Published {
                    slug: "second".into(),
                    title: "Second".into(),
                    author: None
                },
                Published {
                    slug: "hello".into(),
                    title: "Hello".into(),
                    author: Some("Ada".into())
                },
            ]
        );
        // The slug became unique in the third migration.
        assert!(publish(&db, ada, "hello", "Again").is_err());
    }
}
