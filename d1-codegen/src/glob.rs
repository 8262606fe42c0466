//! Which files of a migrations directory are migrations, and their order: wrangler's
//! `migrations_pattern` (a minimatch glob, `dot: false`) and its path comparison, rebuilt so
//! that d1kit reads exactly the files `wrangler d1 migrations apply` applies, in its order.
//!
//! No glob crate is used: none does minimatch's "could this directory hold a match" test,
//! which the walk needs so that `**` is the only pattern that descends everywhere (wrangler
//! prunes the same way), and none has its leading-dot rule. The subset implemented is every
//! construct an ORM's layout needs: `*`, `?`, `[...]` classes, `**`, `{a,b}` alternatives and
//! `\` escapes. Extglobs, negation and `{1..9}` ranges are refused with a clear error rather
//! than matched differently.

use std::cmp::Ordering;

/// A compiled `migrations_pattern`, relative to the migrations directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    /// One list of segments per `{a,b}` alternative.
    alternatives: Vec<Vec<Segment>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// `**`: any number of path segments (none starting with `.`).
    GlobStar,
    /// Anything else: tokens matched against one path segment.
    Part(Vec<Token>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Literal(char),
    /// `?`
    One,
    /// `*`
    Star,
    /// `[...]`
    Class {
        negated: bool,
        items: Vec<ClassItem>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum ClassItem {
    Char(char),
    Range(char, char),
    Named(&'static str),
}

/// The default pattern: the `.sql` files directly in the directory, as wrangler reads them
/// when no `migrations_pattern` is set.
pub const DEFAULT: &str = "*.sql";

impl Glob {
    /// Compiles `pattern` (relative to the migrations directory, `/`-separated), or says what
    /// in it d1kit does not support.
    pub fn new(pattern: &str) -> Result<Glob, String> {
        if pattern.is_empty() {
            return Err("is empty".to_string());
        }
        if pattern.starts_with('!') {
            return Err(
                "starts with `!`, a negated pattern: name the files to read instead".into(),
            );
        }
        if pattern.starts_with('#') {
            return Err("starts with `#`, which minimatch (and so wrangler) reads as a comment that matches nothing".into());
        }
        let chars: Vec<char> = pattern.chars().collect();
        for (i, pair) in chars.windows(2).enumerate() {
            if matches!(pair[0], '?' | '*' | '+' | '@' | '!')
                && pair[1] == '('
                && (i == 0 || chars[i - 1] != '\\')
            {
                return Err(format!(
                    "uses the extended glob `{}(...)`, which d1kit does not support: use `*`, `?`, `[...]`, `**` or `{{a,b}}`",
                    pair[0]
                ));
            }
        }
        let alternatives = expand_braces(pattern)?
            .iter()
            .map(|p| compile(p))
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Glob { alternatives })
    }

    /// Whether the file at `path` (relative to the migrations directory, `/`-separated)
    /// is a migration.
    pub fn matches(&self, path: &str) -> bool {
        let segments: Vec<&str> = path.split('/').collect();
        self.alternatives
            .iter()
            .any(|alt| match_segments(alt, &segments, false))
    }

    /// Whether the directory at `path` may hold a match (minimatch's partial match): the
    /// walk descends only into those.
    pub fn may_hold(&self, path: &str) -> bool {
        let segments: Vec<&str> = path.split('/').collect();
        self.alternatives
            .iter()
            .any(|alt| match_segments(alt, &segments, true))
    }
}

/// `{a,b}` alternatives expanded (nested too), as brace-expansion does before minimatch
/// compiles: `{x}` without a comma stays as written.
fn expand_braces(pattern: &str) -> Result<Vec<String>, String> {
    let chars: Vec<char> = pattern.chars().collect();
    // The first `{` that has a matching `}` with a top-level comma between them.
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 2,
            '{' => {
                let mut depth = 0;
                let mut commas = Vec::new();
                let mut close = None;
                let mut j = i;
                while j < chars.len() {
                    match chars[j] {
                        '\\' => j += 1,
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                close = Some(j);
                                break;
                            }
                        }
                        ',' if depth == 1 => commas.push(j),
                        _ => {}
                    }
                    j += 1;
                }
                let Some(close) = close else {
                    i += 1;
                    continue;
                };
                let inner: String = chars[i + 1..close].iter().collect();
                if commas.is_empty() {
                    if inner.contains("..") {
                        return Err(format!(
                            "uses the range `{{{inner}}}`, which d1kit does not support: list the alternatives, `{{a,b}}`"
                        ));
                    }
                    i = close + 1;
                    continue;
                }
                let head: String = chars[..i].iter().collect();
                let tail: String = chars[close + 1..].iter().collect();
                let mut bounds = vec![i];
                bounds.extend(&commas);
                bounds.push(close);
                let mut out = Vec::new();
                for w in bounds.windows(2) {
                    let part: String = chars[w[0] + 1..w[1]].iter().collect();
                    for expanded in expand_braces(&format!("{head}{part}{tail}"))? {
                        out.push(expanded);
                    }
                }
                return Ok(out);
            }
            _ => i += 1,
        }
    }
    Ok(vec![pattern.to_string()])
}

fn compile(pattern: &str) -> Result<Vec<Segment>, String> {
    pattern
        .split('/')
        .map(|seg| {
            if seg == "**" {
                return Ok(Segment::GlobStar);
            }
            let chars: Vec<char> = seg.chars().collect();
            let mut tokens = Vec::new();
            let mut i = 0;
            while i < chars.len() {
                let c = chars[i];
                match c {
                    '\\' if i + 1 < chars.len() => {
                        tokens.push(Token::Literal(chars[i + 1]));
                        i += 2;
                        continue;
                    }
                    '?' => tokens.push(Token::One),
                    '*' => {
                        // `**` inside a segment is a plain `*`.
                        if tokens.last() != Some(&Token::Star) {
                            tokens.push(Token::Star);
                        }
                    }
                    '[' => match class(&chars, i) {
                        Some((token, end)) => {
                            tokens.push(token);
                            i = end + 1;
                            continue;
                        }
                        None => tokens.push(Token::Literal('[')),
                    },
                    _ => tokens.push(Token::Literal(c)),
                }
                i += 1;
            }
            Ok(Segment::Part(tokens))
        })
        .collect()
}

const NAMED: &[&str] = &[
    "alnum", "alpha", "ascii", "blank", "cntrl", "digit", "graph", "lower", "print", "punct",
    "space", "upper", "word", "xdigit",
];

/// The class opening at `chars[start]` (`[`), and the index of its `]`; `None` when it does
/// not close (then `[` is a literal, as in minimatch).
fn class(chars: &[char], start: usize) -> Option<(Token, usize)> {
    let mut i = start + 1;
    let negated = matches!(chars.get(i), Some('!' | '^'));
    if negated {
        i += 1;
    }
    let mut items = Vec::new();
    let first = i;
    while i < chars.len() {
        let c = chars[i];
        if c == ']' && i > first {
            return Some((Token::Class { negated, items }, i));
        }
        if c == '[' && chars.get(i + 1) == Some(&':') {
            let rest: String = chars[i + 2..].iter().collect();
            if let Some(name) = NAMED.iter().find(|n| rest.starts_with(&format!("{n}:]"))) {
                items.push(ClassItem::Named(name));
                i += name.len() + 4;
                continue;
            }
        }
        let c = if c == '\\' && i + 1 < chars.len() {
            i += 1;
            chars[i]
        } else {
            c
        };
        if chars.get(i + 1) == Some(&'-') && chars.get(i + 2).is_some_and(|&e| e != ']') {
            let mut end = chars[i + 2];
            let mut step = 3;
            if end == '\\' && i + 3 < chars.len() {
                end = chars[i + 3];
                step = 4;
            }
            items.push(ClassItem::Range(c, end));
            i += step;
            continue;
        }
        items.push(ClassItem::Char(c));
        i += 1;
    }
    None
}

fn in_class(items: &[ClassItem], c: char) -> bool {
    items.iter().any(|item| match *item {
        ClassItem::Char(x) => x == c,
        ClassItem::Range(a, b) => a <= c && c <= b,
        ClassItem::Named(name) => match name {
            "alnum" => c.is_alphanumeric(),
            "alpha" => c.is_alphabetic(),
            "ascii" => c.is_ascii(),
            "blank" => c == ' ' || c == '\t',
            "cntrl" => c.is_control(),
            "digit" => c.is_ascii_digit(),
            "graph" => !c.is_control() && !c.is_whitespace(),
            "lower" => c.is_lowercase(),
            "print" => !c.is_control(),
            "punct" => c.is_ascii_punctuation(),
            "space" => c.is_whitespace(),
            "upper" => c.is_uppercase(),
            "word" => c.is_alphanumeric() || c == '_',
            _ => c.is_ascii_hexdigit(),
        },
    })
}

/// One pattern segment against one path segment. A segment starting with `.` is matched only
/// by a pattern segment that starts with a literal `.` (`dot: false`).
fn match_part(tokens: &[Token], segment: &str) -> bool {
    if segment.starts_with('.') && tokens.first() != Some(&Token::Literal('.')) {
        return false;
    }
    let chars: Vec<char> = segment.chars().collect();
    match_tokens(tokens, &chars)
}

fn match_tokens(tokens: &[Token], chars: &[char]) -> bool {
    // Iterative wildcard matching with backtracking to the last `*`.
    let (mut t, mut c) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while c < chars.len() {
        let step = match tokens.get(t) {
            Some(Token::Star) => {
                star = Some((t, c));
                t += 1;
                continue;
            }
            Some(Token::One) => true,
            Some(Token::Literal(l)) => *l == chars[c],
            Some(Token::Class { negated, items }) => in_class(items, chars[c]) != *negated,
            None => false,
        };
        if step {
            t += 1;
            c += 1;
        } else if let Some((st, sc)) = star {
            t = st + 1;
            c = sc + 1;
            star = Some((st, sc + 1));
        } else {
            return false;
        }
    }
    tokens[t..].iter().all(|tok| *tok == Token::Star)
}

/// Pattern segments against path segments; `partial`: the path is a directory, and may be a
/// prefix of a match.
fn match_segments(pattern: &[Segment], path: &[&str], partial: bool) -> bool {
    match (pattern.first(), path.first()) {
        (_, None) => partial || pattern.iter().all(|s| *s == Segment::GlobStar),
        (None, Some(_)) => false,
        (Some(Segment::GlobStar), Some(seg)) => {
            // `**` matches nothing here, or swallows this segment (never a dot segment).
            match_segments(&pattern[1..], path, partial)
                || (!seg.starts_with('.') && match_segments(pattern, &path[1..], partial))
        }
        (Some(Segment::Part(tokens)), Some(seg)) => {
            match_part(tokens, seg) && match_segments(&pattern[1..], &path[1..], partial)
        }
    }
}

/// A relative path or glob in wrangler's canonical form: `\` as `/`, `.` and empty segments
/// dropped, `..` folded into its parent, no trailing `/` (`path.posix.normalize`).
pub fn normalize(path: &str) -> String {
    let path = path.replace('\\', "/");
    let absolute = path.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else if !absolute {
                    out.push("..");
                }
            }
            s => out.push(s),
        }
    }
    let joined = out.join("/");
    match (absolute, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// `pattern` made relative to `dir` (both normalized), or `None` when it does not start with
/// `dir/` (wrangler refuses such a pattern).
pub fn strip_dir<'a>(pattern: &'a str, dir: &str) -> Option<&'a str> {
    if dir == "." {
        return Some(pattern);
    }
    pattern
        .strip_prefix(dir)
        .and_then(|rest| rest.strip_prefix('/'))
}

/// The leading number of a path segment as wrangler reads it: JavaScript's
/// `parseInt(segment.split("_")[0], 10)`, `NaN` when there is none.
pub fn leading_number(segment: &str) -> f64 {
    let head = segment.split('_').next().unwrap_or_default();
    let head = head.trim_start_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
    let (sign, digits) = match head.as_bytes().first() {
        Some(b'-') => (-1.0, &head[1..]),
        Some(b'+') => (1.0, &head[1..]),
        _ => (1.0, head),
    };
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    match digits[..end].parse::<f64>() {
        Ok(n) if end > 0 => sign * n,
        _ => f64::NAN,
    }
}

/// Wrangler's order of migration paths (`compareMigrationPaths`): segment by segment, by
/// leading number (numbered before unnumbered), ties by JavaScript string order (UTF-16
/// code units); a path that is a prefix of another first.
pub fn compare_paths(a: &str, b: &str) -> Ordering {
    let (a_segs, b_segs): (Vec<&str>, Vec<&str>) = (a.split('/').collect(), b.split('/').collect());
    for (x, y) in a_segs.iter().zip(&b_segs) {
        let c = compare_segments(x, y);
        if c != Ordering::Equal {
            return c;
        }
    }
    a_segs.len().cmp(&b_segs.len())
}

fn compare_segments(a: &str, b: &str) -> Ordering {
    let (x, y) = (leading_number(a), leading_number(b));
    #[allow(clippy::float_cmp)] // JavaScript's `!==` on numbers, NaN included.
    if x != y {
        match (x.is_finite(), y.is_finite()) {
            (true, true) => return x.partial_cmp(&y).unwrap_or(Ordering::Equal),
            (true, false) => return Ordering::Less,
            (false, true) => return Ordering::Greater,
            (false, false) => {}
        }
    }
    a.encode_utf16().cmp(b.encode_utf16())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(p: &str) -> Glob {
        Glob::new(p).unwrap()
    }

    #[test]
    fn star_stays_in_one_segment_and_skips_dot_names() {
        assert!(g("*.sql").matches("0001_init.sql"));
        assert!(!g("*.sql").matches("0001_init/migration.sql"));
        assert!(!g("*.sql").matches(".hidden.sql"));
        assert!(g(".*.sql").matches(".hidden.sql"));
        assert!(!g("*.sql").matches("0001_init.SQL"), "case-sensitive");
        assert!(g("*/migration.sql").matches("20250101_init/migration.sql"));
        assert!(!g("*/migration.sql").matches("20250101_init/snapshot.json"));
        assert!(!g("*/migration.sql").matches("migration.sql"));
        assert!(!g("*/migration.sql").matches("a/b/migration.sql"));
        assert!(g("0?_*.sql").matches("01_a.sql"));
        assert!(g("[0-9]*.sql").matches("7_a.sql"));
        assert!(!g("[!0-9]*.sql").matches("7_a.sql"));
        assert!(g("[[:digit:]]*.sql").matches("7_a.sql"));
        assert!(g("\\*.sql").matches("*.sql"));
        assert!(!g("\\*.sql").matches("a.sql"));
    }

    #[test]
    fn globstar_crosses_segments_but_not_dot_directories() {
        let p = g("**/*.sql");
        assert!(p.matches("a.sql"));
        assert!(p.matches("x/y/a.sql"));
        assert!(!p.matches(".git/a.sql"));
        assert!(!p.matches("x/.cache/a.sql"));
        assert!(g("**/migration.sql").matches("a/b/migration.sql"));
        assert!(g("a/**").matches("a/b/c"));
    }

    #[test]
    fn partial_matches_prune_the_walk() {
        assert!(!g("*.sql").may_hold("meta"));
        assert!(g("*/migration.sql").may_hold("0001_init"));
        assert!(!g("*/migration.sql").may_hold("0001_init/deeper"));
        assert!(!g("*/migration.sql").may_hold(".git"));
        assert!(g("**/*.sql").may_hold("a/b/c"));
        assert!(g("{a,b}/*.sql").may_hold("b"));
        assert!(!g("{a,b}/*.sql").may_hold("c"));
    }

    #[test]
    fn braces_expand_and_unsupported_forms_are_refused() {
        let p = g("{0*,1*}/{migration,up}.sql");
        assert!(p.matches("01_a/up.sql"));
        assert!(p.matches("10_b/migration.sql"));
        assert!(!p.matches("20_c/up.sql"));
        assert!(g("{a}.sql").matches("{a}.sql"), "no comma: literal");
        for bad in ["!*.sql", "+(a|b).sql", "{1..9}.sql", "#x", ""] {
            assert!(Glob::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn normalize_and_strip_as_wrangler() {
        assert_eq!(normalize("./migrations/"), "migrations");
        assert_eq!(
            normalize("db//x/../migrations/*/m.sql"),
            "db/migrations/*/m.sql"
        );
        assert_eq!(normalize("."), ".");
        assert_eq!(normalize("../shared"), "../shared");
        assert_eq!(strip_dir("migrations/*.sql", "migrations"), Some("*.sql"));
        assert_eq!(strip_dir("migrationsx/*.sql", "migrations"), None);
        assert_eq!(strip_dir("*.sql", "."), Some("*.sql"));
    }

    #[test]
    fn order_is_numeric_then_utf16() {
        let mut names = vec![
            "10_c.sql",
            "9_b.sql",
            "1_a.sql",
            "init.sql",
            "0002_x/migration.sql",
            "0002_x/a.sql",
            "0002_x",
            "2_a.sql",
        ];
        names.sort_by(|a, b| compare_paths(a, b));
        assert_eq!(
            names,
            [
                "1_a.sql",
                "0002_x",
                "0002_x/a.sql",
                "0002_x/migration.sql",
                "2_a.sql",
                "9_b.sql",
                "10_c.sql",
                "init.sql"
            ]
        );
        assert_eq!(leading_number(" 12abc_x"), 12.0);
        assert_eq!(leading_number("-3_x"), -3.0);
        assert!(leading_number("abc").is_nan());
        assert!(leading_number("_1").is_nan());
        // U+FF5E sorts before U+1F600 by code point (UTF-8), after it by UTF-16 code unit.
        assert_eq!(compare_paths("\u{ff5e}", "\u{1f600}"), Ordering::Greater);
    }
}
