use d1kit::{Query, Row};

#[derive(Row)]
struct IssueTitle {
    id: i64,
    title: String,
}

#[derive(Query)]
#[d1(
    database = "tracker",
    sql = "SELECT id, title FROM issues WHERE workspace_id = :workspace AND status = :status ORDER BY number LIMIT :limit",
    row = IssueTitle
)]
struct OpenIssues<'a> {
    workspace: &'a str,
    status: &'a str,
    limit: i64,
}

#[derive(Query)]
#[d1(
    database = "tracker",
    sql = "SELECT id, number, estimate FROM issues WHERE workspace_id = :workspace"
)]
pub struct IssuesOf {
    pub workspace: String,
}

#[derive(Query)]
#[d1(
    database = "tracker",
    sql = "UPDATE issues SET assignee = :assignee WHERE id = :id"
)]
struct Assign {
    id: i64,
    assignee: Option<String>,
}

fn main() {
    let s = OpenIssues {
        workspace: "w",
        status: "open",
        limit: 5,
    }
    .into_statement();
    assert_eq!(s.params.len(), 3);
    if false {
        let row: IssuesOfRow = d1kit::__private::row_of(&IssuesOf {
            workspace: "w".into(),
        });
        let _: (i64, i64, Option<f64>) = (row.id, row.number, row.estimate);
    }
    let s = Assign {
        id: 1,
        assignee: None,
    }
    .into_statement();
    assert_eq!(s.params[1], d1kit::Value::Integer(1));
    let _ = |r: IssueTitle| (r.id, r.title);
}
