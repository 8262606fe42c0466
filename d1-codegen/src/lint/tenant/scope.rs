//! The tenant lint's model of one SELECT level: the relations it reads, which of their columns
//! are bound to a parameter, and the fixpoint that carries bindings along column equalities.

use super::*;

/// A column of a relation in one scope: `(relation id, lower-case column name)`.
pub(super) type Node = (usize, String);

/// A relation in scope.
pub(super) struct Rel {
    pub(super) id: usize,
    /// What qualifies its columns: the alias, else the name as written.
    pub(super) qualifier: String,
    /// Its column names; `None` when d1kit does not know them.
    pub(super) columns: Option<Vec<String>>,
    /// A table or view with the tenant column: its name and where it is written.
    pub(super) tenant: Option<(String, sqlparser::tokenizer::Span)>,
    /// Added by a JOIN (so it has an ON clause to constrain it in).
    pub(super) joined: bool,
}

/// The relations of one SELECT (or UPDATE / DELETE) and which of their columns are bound.
pub(super) struct Relations<'p> {
    pub(super) rels: Vec<Rel>,
    pub(super) parent: Option<&'p Relations<'p>>,
    pub(super) bound: HashSet<Node>,
}

impl<'p> Relations<'p> {
    pub(super) fn new(parent: Option<&'p Relations<'p>>) -> Relations<'p> {
        Relations {
            rels: Vec::new(),
            parent,
            bound: HashSet::new(),
        }
    }

    pub(super) fn owns(&self, id: usize) -> bool {
        self.rels.iter().any(|r| r.id == id)
    }

    /// Whether `node` is bound here, or in the enclosing query it belongs to.
    pub(super) fn is_bound(&self, node: &Node) -> bool {
        if self.owns(node.0) {
            self.bound.contains(node)
        } else {
            self.parent.is_some_and(|p| p.is_bound(node))
        }
    }

    /// The column a reference names, innermost query first; `None` when it cannot be told.
    pub(super) fn resolve(&self, table: Option<&str>, column: &str) -> Option<Node> {
        let lower = column.to_ascii_lowercase();
        match table {
            Some(t) => match self
                .rels
                .iter()
                .find(|r| r.qualifier.eq_ignore_ascii_case(t))
            {
                Some(r) => Some((r.id, lower)),
                None => self.parent?.resolve(table, column),
            },
            None => {
                let has = |r: &&Rel| {
                    r.columns
                        .as_ref()
                        .is_some_and(|c| c.iter().any(|n| n.eq_ignore_ascii_case(column)))
                };
                if let Some(r) = self.rels.iter().find(has) {
                    return Some((r.id, lower));
                }
                // It may be a column of a relation whose columns are unknown.
                if self.rels.iter().any(|r| r.columns.is_none()) {
                    return None;
                }
                self.parent?.resolve(None, column)
            }
        }
    }
}

/// Which relations a condition can bind: all of them (WHERE, inner ON), or only the optional
/// side of an outer join (its ON filters that side's rows, not the other's).
#[derive(Clone, PartialEq)]
pub(super) enum Binds {
    All,
    Only(Vec<usize>),
}

/// What the conditions of one scope say, before they are resolved.
#[derive(Default)]
pub(super) struct Facts<'t> {
    pub(super) conditions: Vec<(&'t Expr, Binds)>,
    /// `USING` / NATURAL equalities: `(left, right, binds)`.
    pub(super) equal: Vec<(Node, Node, Binds)>,
    /// Expressions to look into for subqueries once the scope is complete.
    pub(super) deferred: Vec<&'t Expr>,
}

impl<'a> Lint<'a> {
    /// Resolves the conditions and equalities of a scope and computes which columns are bound.
    pub(super) fn settle(&self, scope: &mut Relations<'_>, facts: &Facts<'_>) {
        let mut seeds: Vec<Node> = Vec::new();
        let mut edges: Vec<(Node, Node)> = Vec::new();
        let add = |a: Node, b: Node, binds: &Binds, edges: &mut Vec<(Node, Node)>| match binds {
            Binds::All => {
                edges.push((a.clone(), b.clone()));
                edges.push((b, a));
            }
            Binds::Only(side) => match (side.contains(&a.0), side.contains(&b.0)) {
                (true, true) => {
                    edges.push((a.clone(), b.clone()));
                    edges.push((b, a));
                }
                (false, true) => edges.push((a, b)),
                (true, false) => edges.push((b, a)),
                (false, false) => {}
            },
        };
        for (cond, binds) in &facts.conditions {
            let mut terms = Vec::new();
            and_terms(cond, &mut terms);
            for term in terms {
                let Expr::BinaryOp {
                    left,
                    op: BinaryOperator::Eq,
                    right,
                } = term
                else {
                    continue;
                };
                let l = column_ref(left).and_then(|(t, c)| scope.resolve(t, c));
                let r = column_ref(right).and_then(|(t, c)| scope.resolve(t, c));
                let seed = match (l, r) {
                    (Some(n), None) if is_param(right) => n,
                    (None, Some(n)) if is_param(left) => n,
                    (Some(a), Some(b)) => {
                        add(a, b, binds, &mut edges);
                        continue;
                    }
                    _ => continue,
                };
                if let Binds::Only(side) = binds {
                    if !side.contains(&seed.0) {
                        continue;
                    }
                }
                seeds.push(seed);
            }
        }
        for (a, b, binds) in &facts.equal {
            add(a.clone(), b.clone(), binds, &mut edges);
        }
        let mut bound: HashSet<Node> = seeds.into_iter().filter(|n| scope.owns(n.0)).collect();
        loop {
            let mut changed = false;
            for (a, b) in &edges {
                if !scope.owns(b.0) || bound.contains(b) {
                    continue;
                }
                let a_bound = if scope.owns(a.0) {
                    bound.contains(a)
                } else {
                    scope.parent.is_some_and(|p| p.is_bound(a))
                };
                if a_bound {
                    bound.insert(b.clone());
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        scope.bound = bound;
    }

    /// An error for each relation of `scope` whose tenant column is not bound. `whole_table`:
    /// the relation is read whole (`x IN notes`), so there is no clause to add a term to.
    pub(super) fn report(&mut self, scope: &Relations<'_>, has_where: bool, whole_table: bool) {
        let column = self.tenant.to_ascii_lowercase();
        let col = shown(self.tenant);
        for r in &scope.rels {
            let Some((table, span)) = &r.tenant else {
                continue;
            };
            if scope.bound.contains(&(r.id, column.clone())) {
                continue;
            }
            let q = shown(&r.qualifier);
            // A relation of this query or an enclosing one whose tenant column is bound: joining
            // on it is usually what was meant.
            let peer = std::iter::successors(Some(scope), |s| s.parent)
                .flat_map(|s| s.rels.iter().map(move |p| (s, p)))
                .find(|(s, p)| {
                    p.tenant.is_some() && p.id != r.id && s.is_bound(&(p.id, column.clone()))
                });
            let term = match peer {
                Some((_, p)) => format!("{q}.{col} = {}.{col}", shown(&p.qualifier)),
                None => format!("{q}.{col} = ?"),
            };
            let same_scope = peer.is_some_and(|(s, _)| std::ptr::eq(s, scope));
            let fix = if whole_table {
                format!("read it through a subquery: `IN (SELECT .. FROM {q} WHERE {q}.{col} = ?)`")
            } else if r.joined && same_scope {
                format!("add `AND {term}` to its JOIN's ON")
            } else if has_where && scope.parent.is_some() {
                format!("add `AND {term}` to the subquery's WHERE clause")
            } else if has_where {
                format!("add `AND {term}` to the WHERE clause")
            } else if scope.parent.is_some() {
                format!("add `WHERE {term}` to the subquery")
            } else {
                format!("add `WHERE {term}`")
            };
            let d = Diagnostic::error(format!(
                "query on `{table}` does not constrain the tenant column `{}`",
                self.tenant
            ))
            .with_help(format!(
                "{fix}. Only `=` with a parameter (or with a column constrained so) counts, as a top-level AND-term of WHERE or of an inner JOIN's ON; not `IN`, `OR` or a literal. If the query is meant to cross tenants, opt out with {OPT_OUT}"
            ));
            let d = self.located(d, *span);
            self.out.push(d);
        }
    }
}
