//! A crate whose migrations drizzle-kit 1.0 wrote (`drizzle/<timestamp>_<name>/migration.sql`,
//! `snapshot.json` beside each): its queries are checked against them at compile time, through
//! `migrations_pattern`, and its tests apply them on the local backend.

use d1kit::local;
use d1kit::prelude::*;

/// The database: migrations embedded under the names wrangler records
/// (`20251002081512_brave_ultron/migration.sql`, ...).
#[derive(Database)]
pub struct App;

/// A team with its member count.
#[derive(Row, Debug, PartialEq)]
pub struct TeamSize {
    /// `teams.slug`.
    pub slug: String,
    /// `teams.plan`: added by the third migration, with a default.
    pub plan: String,
    /// Members of the team.
    pub members: i64,
}

/// Adds a team and its first member in one atomic batch; the team's id.
pub fn add_team(db: &local::Database, slug: &str, owner: &str) -> d1kit::Result<i64> {
    let (team, _) = local::block_on(db.batch((
        sql!(app, "INSERT INTO teams (slug, name) VALUES (?1, ?1)", slug),
        sql!(
            app,
            "INSERT INTO members (team_id, email, role, joined_at) VALUES (last_insert_rowid(), ?1, 'owner', unixepoch())",
            owner
        ),
    )))?;
    Ok(team.meta.last_row_id)
}

/// Invites `email` to the team, for a day.
pub fn invite(db: &local::Database, team: i64, token: &str, email: &str) -> d1kit::Result<()> {
    local::block_on(
        sql!(
            app,
            "INSERT INTO invites (token, team_id, email, expires_at) VALUES (?1, ?2, ?3, unixepoch() + 86400)",
            token,
            team,
            email
        )
        .run(db),
    )?;
    Ok(())
}

/// Every team with its size, by slug.
pub fn team_sizes(db: &local::Database) -> d1kit::Result<Vec<TeamSize>> {
    local::block_on(
        sql_as!(
            app,
            TeamSize,
            "SELECT t.slug, t.plan, count(m.id) AS members FROM teams t LEFT JOIN members m ON m.team_id = t.id GROUP BY t.id ORDER BY t.slug"
        )
        .all(db),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nested_migrations_are_embedded_in_wranglers_order_and_apply() {
        let names: Vec<&str> = App::MIGRATIONS.iter().map(|m| m.name).collect();
        assert_eq!(
            names,
            [
                "20251002081512_brave_ultron/migration.sql",
                "20251009143020_quiet_hulk/migration.sql",
                "20251104090000_lucky_storm/migration.sql",
            ]
        );
        let db = local::Database::open_in_memory().unwrap();
        assert_eq!(db.migrate_to::<App>().unwrap().applied, names);
        let team = add_team(&db, "acme", "ada@example.com").unwrap();
        invite(&db, team, "t-1", "bob@example.com").unwrap();
        assert_eq!(
            team_sizes(&db).unwrap(),
            [TeamSize {
                slug: "acme".into(),
                plan: "free".into(),
                members: 1
            }]
        );
        assert!(db.migrate_to::<App>().unwrap().applied.is_empty());
    }
}
