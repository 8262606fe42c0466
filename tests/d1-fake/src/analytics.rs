//! GraphQL's D1 datasets: `d1AnalyticsAdaptiveGroups` and `d1StorageAdaptiveGroups`.
//!
//! As Cloudflare's adaptive groups: the recorded rows ([`crate::usage`]) are filtered by
//! `filter`, grouped by the selected `dimensions` fields (the selection is the GROUP BY),
//! aggregated (`sum`, `avg`, `quantiles`, `count`, `max`), ordered by `orderBy` and cut to
//! `limit`. Rows older than the 31 days GraphQL keeps are left out.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde_json::Value;

use crate::graphql::{GqlError, Node, Sel};
use crate::time::{date_string, parse_date, parse_timestamp, time_string, DAY_MS, MINUTE_MS};
use crate::usage::Analytics;

/// How far back GraphQL's D1 data goes (31 days).
const KEPT_MS: i64 = 31 * DAY_MS;
/// The most groups one dataset field may ask for.
const LIMIT_MAX: u64 = 10_000;
/// The quantiles `quantiles` offers, as suffixes of the field names.
const QUANTILES: [(&str, f64); 7] = [
    ("P25", 0.25),
    ("P50", 0.5),
    ("P75", 0.75),
    ("P90", 0.9),
    ("P95", 0.95),
    ("P99", 0.99),
    ("P999", 0.999),
];
/// Filter operators, as suffixes of the filter's keys (none: equality).
const OPERATORS: [&str; 7] = ["_geq", "_gt", "_leq", "_lt", "_neq", "_notin", "_in"];

/// Which dataset a field asks for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dataset {
    /// `d1AnalyticsAdaptiveGroups`: query batches.
    Queries,
    /// `d1StorageAdaptiveGroups`: database sizes.
    Storage,
}

impl Dataset {
    fn type_name(self) -> &'static str {
        match self {
            Dataset::Queries => "AccountD1AnalyticsAdaptiveGroups",
            Dataset::Storage => "AccountD1StorageAdaptiveGroups",
        }
    }

    fn dimensions(self) -> &'static [&'static str] {
        match self {
            Dataset::Queries => &[
                "databaseId",
                "date",
                "datetime",
                "datetimeMinute",
                "datetimeFiveMinutes",
                "datetimeFifteenMinutes",
                "datetimeHour",
            ],
            Dataset::Storage => &["databaseId", "date"],
        }
    }

    /// The aggregate groups (`sum`, …) and the scalar fields (`count`) of a group.
    fn is_aggregate(self, name: &str) -> bool {
        match self {
            Dataset::Queries => matches!(name, "sum" | "avg" | "quantiles"),
            Dataset::Storage => name == "max",
        }
    }

    fn has_count(self) -> bool {
        self == Dataset::Queries
    }
}

/// A dimension's value: text, a day or a time (Unix ms), ordered within its kind.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Dim {
    Text(String),
    Day(i64),
    Time(i64),
}

impl Dim {
    fn node(&self) -> Node {
        match self {
            Dim::Text(s) => Node::Str(s.clone()),
            Dim::Day(days) => Node::Str(date_string(days * DAY_MS)),
            Dim::Time(ms) => Node::Str(time_string(*ms)),
        }
    }
}

/// One recorded row: its database, its time (the minute or the day), its figures.
struct Row<'a> {
    uuid: &'a str,
    ms: i64,
    agg: Agg,
}

/// A dimension of a row.
fn dimension(name: &str, uuid: &str, ms: i64) -> Dim {
    let floor = |step: i64| Dim::Time(ms - ms.rem_euclid(step));
    match name {
        "databaseId" => Dim::Text(uuid.to_owned()),
        "date" => Dim::Day(ms.div_euclid(DAY_MS)),
        "datetimeFiveMinutes" => floor(5 * MINUTE_MS),
        "datetimeFifteenMinutes" => floor(15 * MINUTE_MS),
        "datetimeHour" => floor(60 * MINUTE_MS),
        // `datetime` and `datetimeMinute`: the fake records by the minute.
        _ => floor(MINUTE_MS),
    }
}

/// A group's figures.
#[derive(Clone, Default)]
struct Agg {
    read_queries: u64,
    write_queries: u64,
    rows_read: u64,
    rows_written: u64,
    response_bytes: u64,
    times_ms: Vec<f64>,
    bytes: Vec<f64>,
    max_size: u64,
}

impl Agg {
    fn add(&mut self, other: &Agg) {
        self.read_queries += other.read_queries;
        self.write_queries += other.write_queries;
        self.rows_read += other.rows_read;
        self.rows_written += other.rows_written;
        self.response_bytes += other.response_bytes;
        self.times_ms.extend_from_slice(&other.times_ms);
        self.bytes.extend_from_slice(&other.bytes);
        self.max_size = self.max_size.max(other.max_size);
    }

    /// The field `field` of aggregate `group` (`None`: the dataset has no such field), or the
    /// scalar `count` when `group` is `"count"`.
    fn metric(&self, dataset: Dataset, group: &str, field: &str) -> Option<Node> {
        let mean = |values: &[f64]| values.iter().sum::<f64>() / values.len().max(1) as f64;
        Some(match (dataset, group, field) {
            (Dataset::Queries, "count", "") => Node::Int(self.times_ms.len() as u64),
            (Dataset::Queries, "sum", "readQueries") => Node::Int(self.read_queries),
            (Dataset::Queries, "sum", "writeQueries") => Node::Int(self.write_queries),
            (Dataset::Queries, "sum", "rowsRead") => Node::Int(self.rows_read),
            (Dataset::Queries, "sum", "rowsWritten") => Node::Int(self.rows_written),
            (Dataset::Queries, "sum", "queryBatchResponseBytes") => Node::Int(self.response_bytes),
            (Dataset::Queries, "avg", "queryBatchTimeMs") => Node::Float(mean(&self.times_ms)),
            (Dataset::Queries, "avg", "queryBatchResponseBytes") => Node::Float(mean(&self.bytes)),
            (Dataset::Queries, "avg", "sampleInterval") => Node::Float(1.0),
            (Dataset::Queries, "quantiles", field) => {
                let (values, suffix) = if let Some(s) = field.strip_prefix("queryBatchTimeMs") {
                    (&self.times_ms, s)
                } else {
                    (&self.bytes, field.strip_prefix("queryBatchResponseBytes")?)
                };
                let (_, q) = QUANTILES.iter().find(|(name, _)| *name == suffix)?;
                Node::Float(quantile(values, *q))
            }
            (Dataset::Storage, "max", "databaseSizeBytes") => Node::Int(self.max_size),
            _ => return None,
        })
    }
}

/// The nearest-rank quantile `q` of `values`.
fn quantile(values: &[f64], q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// A numeric view of a metric, for ordering.
fn number(node: &Node) -> f64 {
    match node {
        Node::Int(i) => *i as f64,
        Node::Float(f) => *f,
        _ => 0.0,
    }
}

/// A compiled `filter`.
enum Filter {
    All(Vec<Filter>),
    Any(Vec<Filter>),
    Compare {
        name: String,
        operator: &'static str,
        values: Vec<Dim>,
    },
}

impl Filter {
    fn compile(dataset: Dataset, value: &Value, path: &[Value]) -> Result<Filter, GqlError> {
        let Value::Object(fields) = value else {
            return Err(GqlError::at(path, "filter must be an input object"));
        };
        let mut all = Vec::new();
        for (key, value) in fields {
            if value.is_null() {
                continue;
            }
            if key == "AND" || key == "OR" {
                let Value::Array(items) = value else {
                    return Err(GqlError::at(path, format!("filter {key} must be a list")));
                };
                let parts = items
                    .iter()
                    .map(|item| Filter::compile(dataset, item, path))
                    .collect::<Result<Vec<_>, _>>()?;
                all.push(if key == "AND" {
                    Filter::All(parts)
                } else {
                    Filter::Any(parts)
                });
                continue;
            }
            let (dimension, operator) = OPERATORS
                .iter()
                .find_map(|op| {
                    key.strip_suffix(op)
                        .filter(|d| dataset.dimensions().contains(d))
                        .map(|d| (d, *op))
                })
                .or_else(|| {
                    dataset
                        .dimensions()
                        .contains(&key.as_str())
                        .then_some((key.as_str(), ""))
                })
                .ok_or_else(|| {
                    GqlError::at(
                        path,
                        format!("Unknown filter field \"{key}\" on {}.", dataset.type_name()),
                    )
                })?;
            let list = matches!(operator, "_in" | "_notin");
            let raw: Vec<&Value> = match (list, value) {
                (true, Value::Array(items)) => items.iter().collect(),
                (false, value) if !value.is_array() => vec![value],
                _ => {
                    return Err(GqlError::at(
                        path,
                        format!(
                            "filter {key} must be {}",
                            if list { "a list" } else { "a single value" }
                        ),
                    ))
                }
            };
            let values = raw
                .into_iter()
                .map(|v| dim_value(dimension, v))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| {
                    GqlError::at(
                        path,
                        format!(
                            "filter {key}: {value} is not a valid {}",
                            kind_of(dimension)
                        ),
                    )
                })?;
            all.push(Filter::Compare {
                name: dimension.to_owned(),
                operator,
                values,
            });
        }
        Ok(Filter::All(all))
    }

    fn matches(&self, uuid: &str, ms: i64) -> bool {
        match self {
            Filter::All(parts) => parts.iter().all(|p| p.matches(uuid, ms)),
            Filter::Any(parts) => parts.iter().any(|p| p.matches(uuid, ms)),
            Filter::Compare {
                name,
                operator,
                values,
            } => {
                // The row's value of the dimension: a coarse time dimension compares its
                // rounded time (`datetimeHour_geq` compares the hour's start).
                let actual = dimension(name, uuid, ms);
                let first = &values[0];
                match *operator {
                    "" => actual == *first,
                    "_neq" => actual != *first,
                    "_gt" => actual > *first,
                    "_geq" => actual >= *first,
                    "_lt" => actual < *first,
                    "_leq" => actual <= *first,
                    "_in" => values.contains(&actual),
                    _ => !values.contains(&actual),
                }
            }
        }
    }
}

fn kind_of(dimension: &str) -> &'static str {
    match dimension {
        "databaseId" => "string",
        "date" => "Date (YYYY-MM-DD)",
        _ => "Time (RFC 3339)",
    }
}

/// A filter's value for `dimension`.
fn dim_value(dimension: &str, value: &Value) -> Option<Dim> {
    let text = value.as_str()?;
    match dimension {
        "databaseId" => Some(Dim::Text(text.to_ascii_lowercase())),
        "date" => parse_date(text).map(Dim::Day),
        _ => parse_timestamp(text).map(Dim::Time),
    }
}

/// One `orderBy` entry.
enum Order {
    Dimension(usize, bool),
    Metric(String, String, bool),
}

/// Answers one dataset field of an account.
pub(crate) fn resolve(
    dataset: Dataset,
    sel: &Sel,
    analytics: &Analytics,
    now_ms: i64,
    path: &[Value],
) -> Result<Node, GqlError> {
    sel.only_args(&["limit", "filter", "orderBy"], path)?;
    let fields = sel.object(dataset.type_name(), path)?;
    let limit = match sel.arg("limit") {
        Some(value) => value.as_u64().filter(|l| *l <= LIMIT_MAX).ok_or_else(|| {
            GqlError::at(
                path,
                format!("limit must be an integer from 0 to {LIMIT_MAX}, not {value}"),
            )
        })?,
        None => {
            return Err(GqlError::at(
                path,
                format!("Field \"{}\" argument \"limit\" is required.", sel.name),
            ))
        }
    };
    let filter = match sel.arg("filter") {
        Some(value) => Filter::compile(dataset, value, path)?,
        None => Filter::All(Vec::new()),
    };
    let dims = selected_dimensions(dataset, fields, path)?;
    let orders = match sel.arg("orderBy") {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| parse_order(dataset, item, &dims, path))
            .collect::<Result<_, _>>()?,
        Some(single) => vec![parse_order(dataset, single, &dims, path)?],
    };

    // The rows, filtered and grouped by the selected dimensions.
    let since = now_ms - KEPT_MS;
    let rows: Vec<Row<'_>> = match dataset {
        Dataset::Queries => analytics
            .minutes
            .iter()
            .map(|((uuid, minute), m)| Row {
                uuid,
                ms: minute * MINUTE_MS,
                agg: Agg {
                    read_queries: m.read_queries,
                    write_queries: m.write_queries,
                    rows_read: m.rows_read,
                    rows_written: m.rows_written,
                    response_bytes: m.response_bytes,
                    times_ms: m.times_ms.clone(),
                    bytes: m.bytes.clone(),
                    max_size: 0,
                },
            })
            .collect(),
        Dataset::Storage => analytics
            .storage
            .iter()
            .map(|((uuid, day), size)| Row {
                uuid,
                ms: day * DAY_MS,
                agg: Agg {
                    max_size: *size,
                    ..Agg::default()
                },
            })
            .collect(),
    };
    let mut groups: BTreeMap<Vec<Dim>, Agg> = BTreeMap::new();
    for row in rows {
        let kept = match dataset {
            Dataset::Queries => row.ms >= since,
            Dataset::Storage => row.ms + DAY_MS > since,
        };
        if !kept || !filter.matches(row.uuid, row.ms) {
            continue;
        }
        let key: Vec<Dim> = dims
            .iter()
            .map(|d| dimension(d, row.uuid, row.ms))
            .collect();
        groups.entry(key).or_default().add(&row.agg);
    }
    let mut groups: Vec<(Vec<Dim>, Agg)> = groups.into_iter().collect();
    groups.sort_by(|(a_key, a), (b_key, b)| {
        for order in &orders {
            let (ordering, descending) = match order {
                Order::Dimension(i, descending) => (a_key[*i].cmp(&b_key[*i]), *descending),
                Order::Metric(group, field, descending) => {
                    let value = |agg: &Agg| {
                        agg.metric(dataset, group, field)
                            .as_ref()
                            .map_or(0.0, number)
                    };
                    (value(a).total_cmp(&value(b)), *descending)
                }
            };
            let ordering = if descending {
                ordering.reverse()
            } else {
                ordering
            };
            if ordering != Ordering::Equal {
                return ordering;
            }
        }
        a_key.cmp(b_key)
    });
    groups.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    Ok(Node::List(
        groups
            .iter()
            .map(|(key, agg)| render(dataset, fields, &dims, key, agg))
            .collect(),
    ))
}

/// The dimensions selected (in every `dimensions { … }` of the field), checking every
/// selected field of the group on the way.
fn selected_dimensions(
    dataset: Dataset,
    fields: &[Sel],
    parent: &[Value],
) -> Result<Vec<String>, GqlError> {
    let mut dims: Vec<String> = Vec::new();
    let group_type = dataset.type_name();
    for field in fields {
        let path = field.path(parent);
        field.only_args(&[], &path)?;
        let name = field.name.as_str();
        if name == "dimensions" {
            for dim in field.object(&format!("{group_type}Dimensions"), &path)? {
                let dim_path = dim.path(&path);
                dim.only_args(&[], &dim_path)?;
                if dim.name == "__typename" {
                    dim.leaf("String", &dim_path)?;
                    continue;
                }
                if !dataset.dimensions().contains(&dim.name.as_str()) {
                    return Err(unknown(dim, &format!("{group_type}Dimensions"), &dim_path));
                }
                dim.leaf(
                    if dim.name == "databaseId" {
                        "string"
                    } else {
                        "Time"
                    },
                    &dim_path,
                )?;
                if !dims.contains(&dim.name) {
                    dims.push(dim.name.clone());
                }
            }
        } else if dataset.is_aggregate(name) {
            let type_name = format!("{group_type}{}", capitalised(name));
            for metric in field.object(&type_name, &path)? {
                let metric_path = metric.path(&path);
                metric.only_args(&[], &metric_path)?;
                metric.leaf("float64", &metric_path)?;
                if metric.name != "__typename"
                    && Agg::default().metric(dataset, name, &metric.name).is_none()
                {
                    return Err(unknown(metric, &type_name, &metric_path));
                }
            }
        } else if (name == "count" && dataset.has_count()) || name == "__typename" {
            field.leaf("uint64", &path)?;
        } else {
            return Err(unknown(field, group_type, &path));
        }
    }
    Ok(dims)
}

fn unknown(sel: &Sel, type_name: &str, path: &[Value]) -> GqlError {
    GqlError::at(
        path,
        format!(
            "Cannot query field \"{}\" on type \"{type_name}\".",
            sel.name
        ),
    )
}

fn capitalised(name: &str) -> String {
    let mut chars = name.chars();
    chars
        .next()
        .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

/// `date_ASC`, `sum_rowsRead_DESC`, `count_DESC`, `quantiles_queryBatchTimeMsP90_ASC`, …
fn parse_order(
    dataset: Dataset,
    value: &Value,
    dims: &[String],
    path: &[Value],
) -> Result<Order, GqlError> {
    let bad = |message: String| GqlError::at(path, message);
    let text = value
        .as_str()
        .ok_or_else(|| bad(format!("orderBy: {value} is not an order (e.g. date_ASC)")))?;
    let (name, descending) = if let Some(name) = text.strip_suffix("_DESC") {
        (name, true)
    } else if let Some(name) = text.strip_suffix("_ASC") {
        (name, false)
    } else {
        return Err(bad(format!(
            "orderBy: \"{text}\" must end with _ASC or _DESC"
        )));
    };
    if dataset.dimensions().contains(&name) {
        return dims
            .iter()
            .position(|d| d == name)
            .map(|i| Order::Dimension(i, descending))
            .ok_or_else(|| {
                bad(format!(
                    "orderBy: \"{text}\" orders by the dimension {name}, which is not selected"
                ))
            });
    }
    let (group, field) = name.split_once('_').unwrap_or((name, ""));
    match Agg::default().metric(dataset, group, field) {
        Some(_) => Ok(Order::Metric(
            group.to_owned(),
            field.to_owned(),
            descending,
        )),
        None => Err(bad(format!(
            "orderBy: unknown field \"{text}\" on {}",
            dataset.type_name()
        ))),
    }
}

/// One group as the selection asks for it.
fn render(dataset: Dataset, fields: &[Sel], dims: &[String], key: &[Dim], agg: &Agg) -> Node {
    let group_type = dataset.type_name();
    let mut out = Vec::new();
    for field in fields {
        let node = match field.name.as_str() {
            "__typename" => Node::Str(group_type.to_owned()),
            "count" => agg.metric(dataset, "count", "").unwrap_or(Node::Null),
            "dimensions" => Node::Object(
                field
                    .children
                    .iter()
                    .flatten()
                    .map(|dim| {
                        let value = match dims.iter().position(|d| *d == dim.name) {
                            Some(i) => key[i].node(),
                            None => Node::Str(format!("{group_type}Dimensions")),
                        };
                        (dim.key.clone(), value)
                    })
                    .collect(),
            ),
            group => Node::Object(
                field
                    .children
                    .iter()
                    .flatten()
                    .map(|metric| {
                        let value = if metric.name == "__typename" {
                            Node::Str(format!("{group_type}{}", capitalised(group)))
                        } else {
                            agg.metric(dataset, group, &metric.name)
                                .unwrap_or(Node::Null)
                        };
                        (metric.key.clone(), value)
                    })
                    .collect(),
            ),
        };
        out.push((field.key.clone(), node));
    }
    Node::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_quantiles() {
        let values: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(quantile(&values, 0.9), 9.0);
        assert_eq!(quantile(&values, 0.5), 5.0);
        assert_eq!(quantile(&values, 0.999), 10.0);
        assert_eq!(quantile(&[3.0], 0.25), 3.0);
    }
}
