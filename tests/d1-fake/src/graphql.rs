//! GraphQL: `POST /client/v4/graphql`, the analytics API, as far as D1's datasets go.
//!
//! The query is parsed with `graphql-parser` and really interpreted: the operation (chosen by
//! `operationName` when there are several), its variables (with their defaults), fragments,
//! `@skip` / `@include`, aliases, and the fields and arguments of `viewer { accounts(filter:
//! {accountTag}) { … } }`. The datasets themselves are [`crate::analytics`]'s. The answer is
//! plain GraphQL: `{"data": …, "errors": null}`, or `{"data": null, "errors": [{"message",
//! "path"?}]}` (HTTP 200) when the query is wrong.

use std::collections::HashMap;

use graphql_parser::query::{
    parse_query, Definition, Directive, Document, FragmentDefinition, OperationDefinition,
    Selection, SelectionSet, Value as GqlValue,
};
use serde_json::{Map, Value};

use crate::analytics::{self, Dataset};
use crate::js::push_json_string;
use crate::reply::Reply;
use crate::state::{lock, Shared};

/// One field of the query, its fragments and directives resolved and its arguments valued.
pub(crate) struct Sel {
    /// The key of its answer: the alias, else the name.
    pub(crate) key: String,
    pub(crate) name: String,
    pub(crate) args: Vec<(String, Value)>,
    /// `None` for a field written without `{ … }`.
    pub(crate) children: Option<Vec<Sel>>,
}

impl Sel {
    /// The argument `name`, `None` when absent or null.
    pub(crate) fn arg(&self, name: &str) -> Option<&Value> {
        self.args
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
            .filter(|v| !v.is_null())
    }

    /// Refuses arguments other than `allowed`.
    pub(crate) fn only_args(&self, allowed: &[&str], path: &[Value]) -> Result<(), GqlError> {
        match self
            .args
            .iter()
            .find(|(n, _)| !allowed.contains(&n.as_str()))
        {
            Some((name, _)) => Err(GqlError::at(
                path,
                format!("Unknown argument \"{name}\" on field \"{}\".", self.name),
            )),
            None => Ok(()),
        }
    }

    /// The subfields of an object field (an error if it has none).
    pub(crate) fn object(&self, type_name: &str, path: &[Value]) -> Result<&[Sel], GqlError> {
        self.children.as_deref().ok_or_else(|| {
            GqlError::at(
                path,
                format!(
                    "Field \"{}\" of type \"{type_name}\" must have a selection of subfields.",
                    self.name
                ),
            )
        })
    }

    /// Refuses subfields on a scalar field.
    pub(crate) fn leaf(&self, type_name: &str, path: &[Value]) -> Result<(), GqlError> {
        match self.children {
            Some(_) => Err(GqlError::at(
                path,
                format!(
                    "Field \"{}\" must not have a selection since type \"{type_name}\" has no \
                     subfields.",
                    self.name
                ),
            )),
            None => Ok(()),
        }
    }

    /// This field's path, below `parent`.
    pub(crate) fn path(&self, parent: &[Value]) -> Vec<Value> {
        let mut path = parent.to_vec();
        path.push(Value::from(self.key.as_str()));
        path
    }
}

/// An answer's data, written in the order the query selected it.
pub(crate) enum Node {
    Null,
    Int(u64),
    Float(f64),
    Str(String),
    List(Vec<Node>),
    Object(Vec<(String, Node)>),
}

impl Node {
    fn write(&self, out: &mut String) {
        match self {
            Node::Null => out.push_str("null"),
            Node::Int(i) => out.push_str(&i.to_string()),
            Node::Float(f) => match serde_json::Number::from_f64(*f) {
                Some(n) => out.push_str(&n.to_string()),
                None => out.push_str("null"),
            },
            Node::Str(s) => push_json_string(out, s),
            Node::List(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write(out);
                }
                out.push(']');
            }
            Node::Object(fields) => {
                out.push('{');
                for (i, (key, value)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    push_json_string(out, key);
                    out.push(':');
                    value.write(out);
                }
                out.push('}');
            }
        }
    }
}

/// A GraphQL error: its message and, when it concerns a field, the field's path.
pub(crate) struct GqlError {
    message: String,
    path: Option<Vec<Value>>,
}

impl GqlError {
    pub(crate) fn new(message: impl Into<String>) -> GqlError {
        GqlError {
            message: message.into(),
            path: None,
        }
    }

    pub(crate) fn at(path: &[Value], message: impl Into<String>) -> GqlError {
        GqlError {
            message: message.into(),
            path: Some(path.to_vec()),
        }
    }

    fn reply(self, status: u16) -> Reply {
        let mut error = Map::new();
        error.insert("message".to_owned(), Value::from(self.message));
        if let Some(path) = self.path {
            error.insert("path".to_owned(), Value::Array(path));
        }
        let body = serde_json::json!({"data": null, "errors": [error]});
        Reply::json(status, body.to_string())
    }
}

/// Answers a GraphQL request's body.
pub(crate) fn serve(shared: &Shared, body: &[u8]) -> Reply {
    let request = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(request)) => request,
        _ => {
            return GqlError::new(
                "The request body must be a JSON object {\"query\": string, \"variables\"?: \
                 object, \"operationName\"?: string}",
            )
            .reply(400)
        }
    };
    let Some(query) = request.get("query").and_then(Value::as_str) else {
        return GqlError::new("\"query\" (a string) is required").reply(400);
    };
    let variables = match request.get("variables") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(variables)) => variables.clone(),
        Some(_) => return GqlError::new("\"variables\" must be an object").reply(400),
    };
    let operation_name = match request.get("operationName") {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) => Some(name.as_str()),
        Some(_) => return GqlError::new("\"operationName\" must be a string").reply(400),
    };
    match execute(shared, query, &variables, operation_name) {
        Ok(data) => {
            let mut out = String::from("{\"data\":");
            data.write(&mut out);
            out.push_str(",\"errors\":null}");
            Reply::json(200, out)
        }
        Err(error) => error.reply(200),
    }
}

fn execute(
    shared: &Shared,
    query: &str,
    variables: &Map<String, Value>,
    operation_name: Option<&str>,
) -> Result<Node, GqlError> {
    let document: Document<'_, &str> =
        parse_query(query).map_err(|e| GqlError::new(format!("Syntax error: {e}")))?;
    let mut fragments = HashMap::new();
    let mut operations = Vec::new();
    for definition in &document.definitions {
        match definition {
            Definition::Fragment(fragment) => {
                fragments.insert(fragment.name, fragment);
            }
            Definition::Operation(operation) => operations.push(operation),
        }
    }
    fn name_of<'a>(operation: &OperationDefinition<'a, &'a str>) -> Option<&'a str> {
        match operation {
            OperationDefinition::SelectionSet(_) => None,
            OperationDefinition::Query(q) => q.name,
            OperationDefinition::Mutation(m) => m.name,
            OperationDefinition::Subscription(s) => s.name,
        }
    }
    let operation = match operation_name {
        Some(wanted) => operations
            .iter()
            .find(|op| name_of(op) == Some(wanted))
            .ok_or_else(|| GqlError::new(format!("Unknown operation named \"{wanted}\".")))?,
        None if operations.len() == 1 => &operations[0],
        None => {
            return Err(GqlError::new(
                "Must provide operation name if query contains multiple operations.",
            ))
        }
    };
    let (definitions, selection_set) = match operation {
        OperationDefinition::SelectionSet(set) => (&[][..], set),
        OperationDefinition::Query(q) => (&q.variable_definitions[..], &q.selection_set),
        OperationDefinition::Mutation(_) | OperationDefinition::Subscription(_) => {
            return Err(GqlError::new(
                "Only queries are supported: the schema has no mutation or subscription type.",
            ))
        }
    };
    let mut values = HashMap::new();
    for definition in definitions {
        let value = match variables.get(definition.name) {
            Some(value) => value.clone(),
            None => match &definition.default_value {
                Some(default) => to_json(default, &HashMap::new())?,
                None => Value::Null,
            },
        };
        values.insert(definition.name.to_owned(), value);
    }
    let lower = Lowering {
        fragments: &fragments,
        variables: &values,
    };
    let fields = lower.selection_set(selection_set, 0)?;
    resolve_query(shared, &fields)
}

/// Turns the parser's selections into [`Sel`]s.
struct Lowering<'q, 'a> {
    fragments: &'q HashMap<&'a str, &'q FragmentDefinition<'a, &'a str>>,
    variables: &'q HashMap<String, Value>,
}

impl<'a> Lowering<'_, 'a> {
    fn selection_set(
        &self,
        set: &SelectionSet<'a, &'a str>,
        depth: usize,
    ) -> Result<Vec<Sel>, GqlError> {
        if depth > 32 {
            return Err(GqlError::new(
                "The query is nested too deeply (fragment cycle?).",
            ));
        }
        let mut out = Vec::new();
        for selection in &set.items {
            match selection {
                Selection::Field(field) => {
                    if !self.included(&field.directives)? {
                        continue;
                    }
                    let args = field
                        .arguments
                        .iter()
                        .map(|(name, value)| {
                            Ok(((*name).to_owned(), to_json(value, self.variables)?))
                        })
                        .collect::<Result<Vec<_>, GqlError>>()?;
                    let children = if field.selection_set.items.is_empty() {
                        None
                    } else {
                        Some(self.selection_set(&field.selection_set, depth + 1)?)
                    };
                    out.push(Sel {
                        key: field.alias.unwrap_or(field.name).to_owned(),
                        name: field.name.to_owned(),
                        args,
                        children,
                    });
                }
                Selection::FragmentSpread(spread) => {
                    if !self.included(&spread.directives)? {
                        continue;
                    }
                    let fragment = self.fragments.get(spread.fragment_name).ok_or_else(|| {
                        GqlError::new(format!("Unknown fragment \"{}\".", spread.fragment_name))
                    })?;
                    out.extend(self.selection_set(&fragment.selection_set, depth + 1)?);
                }
                Selection::InlineFragment(inline) => {
                    if !self.included(&inline.directives)? {
                        continue;
                    }
                    out.extend(self.selection_set(&inline.selection_set, depth + 1)?);
                }
            }
        }
        Ok(out)
    }

    /// `@skip(if:)` and `@include(if:)`.
    fn included(&self, directives: &[Directive<'a, &'a str>]) -> Result<bool, GqlError> {
        let mut included = true;
        for directive in directives {
            let condition = directive
                .arguments
                .iter()
                .find(|(name, _)| *name == "if")
                .map(|(_, value)| to_json(value, self.variables))
                .transpose()?;
            let flag = match condition {
                Some(Value::Bool(flag)) => flag,
                _ => {
                    return Err(GqlError::new(format!(
                        "Directive \"@{}\" needs a boolean argument \"if\".",
                        directive.name
                    )))
                }
            };
            match directive.name {
                "skip" => included &= !flag,
                "include" => included &= flag,
                other => return Err(GqlError::new(format!("Unknown directive \"@{other}\"."))),
            }
        }
        Ok(included)
    }
}

/// A GraphQL value as JSON, its variables replaced by their values (an enum becomes its name).
fn to_json<'a>(
    value: &GqlValue<'a, &'a str>,
    variables: &HashMap<String, Value>,
) -> Result<Value, GqlError> {
    Ok(match value {
        GqlValue::Variable(name) => variables
            .get(*name)
            .cloned()
            .ok_or_else(|| GqlError::new(format!("Variable \"${name}\" is not defined.")))?,
        GqlValue::Int(n) => Value::from(n.as_i64().unwrap_or_default()),
        GqlValue::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
        GqlValue::String(s) => Value::from(s.as_str()),
        GqlValue::Boolean(b) => Value::Bool(*b),
        GqlValue::Null => Value::Null,
        GqlValue::Enum(name) => Value::from(*name),
        GqlValue::List(items) => Value::Array(
            items
                .iter()
                .map(|item| to_json(item, variables))
                .collect::<Result<_, _>>()?,
        ),
        GqlValue::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(k, v)| Ok(((*k).to_owned(), to_json(v, variables)?)))
                .collect::<Result<_, GqlError>>()?,
        ),
    })
}

fn unknown_field(sel: &Sel, type_name: &str, path: &[Value]) -> GqlError {
    GqlError::at(
        path,
        format!(
            "Cannot query field \"{}\" on type \"{type_name}\".",
            sel.name
        ),
    )
}

/// The `__typename` field of an object of type `type_name`.
fn typename(sel: &Sel, type_name: &str, path: &[Value]) -> Result<Node, GqlError> {
    sel.only_args(&[], path)?;
    sel.leaf("String", path)?;
    Ok(Node::Str(type_name.to_owned()))
}

fn resolve_query(shared: &Shared, fields: &[Sel]) -> Result<Node, GqlError> {
    let mut out = Vec::new();
    for sel in fields {
        let path = sel.path(&[]);
        let node = match sel.name.as_str() {
            "viewer" => {
                sel.only_args(&[], &path)?;
                resolve_viewer(shared, sel.object("viewer", &path)?, &path)?
            }
            "__typename" => typename(sel, "Query", &path)?,
            _ => return Err(unknown_field(sel, "Query", &path)),
        };
        out.push((sel.key.clone(), node));
    }
    Ok(Node::Object(out))
}

fn resolve_viewer(shared: &Shared, fields: &[Sel], parent: &[Value]) -> Result<Node, GqlError> {
    let mut out = Vec::new();
    for sel in fields {
        let path = sel.path(parent);
        let node = match sel.name.as_str() {
            "accounts" => resolve_accounts(shared, sel, &path)?,
            "__typename" => typename(sel, "viewer", &path)?,
            _ => return Err(unknown_field(sel, "viewer", &path)),
        };
        out.push((sel.key.clone(), node));
    }
    Ok(Node::Object(out))
}

/// `accounts(filter: {accountTag})`: the fake's account, or an error for any other tag.
fn resolve_accounts(shared: &Shared, sel: &Sel, path: &[Value]) -> Result<Node, GqlError> {
    sel.only_args(&["filter"], path)?;
    let fields = sel.object("account", path)?;
    let tag = match sel.arg("filter") {
        Some(Value::Object(filter)) => {
            if let Some(key) = filter.keys().find(|k| *k != "accountTag") {
                return Err(GqlError::at(
                    path,
                    format!("Unknown filter field \"{key}\" on \"accounts\": only accountTag."),
                ));
            }
            filter.get("accountTag").and_then(Value::as_str)
        }
        _ => None,
    };
    let Some(tag) = tag else {
        return Err(GqlError::at(
            path,
            "\"accounts\" needs filter: {accountTag: \"<account id>\"}",
        ));
    };
    if tag != shared.account_id {
        return Err(GqlError::at(path, "not authorized for that account"));
    }
    let now_ms = shared.now_ms();
    let analytics = lock(&shared.analytics);
    // The one account is item 0 of the list.
    let mut item_path = path.to_vec();
    item_path.push(Value::from(0));
    let mut out = Vec::new();
    for sel in fields {
        let path = sel.path(&item_path);
        let node = match sel.name.as_str() {
            "d1AnalyticsAdaptiveGroups" => {
                analytics::resolve(Dataset::Queries, sel, &analytics, now_ms, &path)?
            }
            "d1StorageAdaptiveGroups" => {
                analytics::resolve(Dataset::Storage, sel, &analytics, now_ms, &path)?
            }
            "__typename" => typename(sel, "account", &path)?,
            _ => return Err(unknown_field(sel, "account", &path)),
        };
        out.push((sel.key.clone(), node));
    }
    Ok(Node::List(vec![Node::Object(out)]))
}
