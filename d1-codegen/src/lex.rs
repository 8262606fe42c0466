//! A SQLite tokenizer: splits SQL into statements (trigger bodies, strings, quoted names and comments respected) and numbers its parameters as SQLite does.

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// A keyword or bare identifier.
    Word,
    /// `"x"`, `` `x` `` or `[x]`.
    QuotedIdent,
    /// `'text'`.
    String,
    /// `X'00ff'`.
    Blob,
    /// A numeric literal.
    Number,
    /// `?`, `?NNN`, `:name`, `@name`, `$name`.
    Param,
    /// `;`
    Semicolon,
    /// Any other punctuation or operator character(s).
    Punct,
    /// A string, quoted identifier or comment that never ends.
    Unterminated,
}

/// One token: kind and byte range in the source text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    /// What it is.
    pub kind: TokenKind,
    /// Byte offset of its first character.
    pub start: usize,
    /// Byte offset just past it.
    pub end: usize,
}

impl Token {
    /// Its text in `sql`.
    pub fn text<'a>(&self, sql: &'a str) -> &'a str {
        &sql[self.start..self.end]
    }

    /// Whether it is the keyword `kw` (case-insensitive).
    pub fn is_word(&self, sql: &str, kw: &str) -> bool {
        self.kind == TokenKind::Word && self.text(sql).eq_ignore_ascii_case(kw)
    }
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '$' || !c.is_ascii()
}

/// Tokenizes `sql`, skipping whitespace and comments. Never fails: what cannot end is an
/// [`TokenKind::Unterminated`] token reaching the end of the text.
pub fn tokenize(sql: &str) -> Vec<Token> {
    let bytes = sql.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < sql.len() {
        let c = sql[i..].chars().next().unwrap_or(' ');
        let start = i;
        let kind = match c {
            c if c.is_whitespace() => {
                i += c.len_utf8();
                continue;
            }
            '-' if bytes.get(i + 1) == Some(&b'-') => {
                i = sql[i..].find('\n').map_or(sql.len(), |n| i + n + 1);
                continue;
            }
            '/' if bytes.get(i + 1) == Some(&b'*') => {
                i = sql[i + 2..].find("*/").map_or(sql.len(), |n| i + 2 + n + 2);
                continue;
            }
            '\'' => quoted(sql, &mut i, '\'', TokenKind::String),
            '"' => quoted(sql, &mut i, '"', TokenKind::QuotedIdent),
            '`' => quoted(sql, &mut i, '`', TokenKind::QuotedIdent),
            '[' => match sql[i..].find(']') {
                Some(n) => {
                    i += n + 1;
                    TokenKind::QuotedIdent
                }
                None => {
                    i = sql.len();
                    TokenKind::Unterminated
                }
            },
            'x' | 'X' if bytes.get(i + 1) == Some(&b'\'') => {
                i += 1;
                match quoted(sql, &mut i, '\'', TokenKind::Blob) {
                    TokenKind::Unterminated => TokenKind::Unterminated,
                    _ => TokenKind::Blob,
                }
            }
            '0'..='9' => {
                number(sql, &mut i);
                TokenKind::Number
            }
            '.' if bytes.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                number(sql, &mut i);
                TokenKind::Number
            }
            '?' => {
                i += 1;
                while bytes.get(i).is_some_and(u8::is_ascii_digit) {
                    i += 1;
                }
                TokenKind::Param
            }
            ':' | '@' | '$' if sql[i + 1..].chars().next().is_some_and(is_ident_char) => {
                i += 1;
                while let Some(ch) = sql[i..].chars().next() {
                    if is_ident_char(ch) {
                        i += ch.len_utf8();
                    } else if c == '$' && sql[i..].starts_with("::") {
                        i += 2;
                    } else {
                        break;
                    }
                }
                TokenKind::Param
            }
            ';' => {
                i += 1;
                TokenKind::Semicolon
            }
            c if is_ident_char(c) => {
                while let Some(ch) = sql[i..].chars().next().filter(|&ch| is_ident_char(ch)) {
                    i += ch.len_utf8();
                }
                TokenKind::Word
            }
            c => {
                i += c.len_utf8();
                TokenKind::Punct
            }
        };
        tokens.push(Token {
            kind,
            start,
            end: i,
        });
    }
    tokens
}

fn quoted(sql: &str, i: &mut usize, q: char, kind: TokenKind) -> TokenKind {
    let mut j = *i + 1;
    loop {
        match sql[j..].find(q) {
            None => {
                *i = sql.len();
                return TokenKind::Unterminated;
            }
            Some(n) => {
                j += n + 1;
                if sql[j..].starts_with(q) {
                    j += 1;
                } else {
                    *i = j;
                    return kind;
                }
            }
        }
    }
}

fn number(sql: &str, i: &mut usize) {
    let b = sql.as_bytes();
    if b[*i] == b'0' && matches!(b.get(*i + 1), Some(b'x' | b'X')) {
        *i += 2;
        while b.get(*i).is_some_and(u8::is_ascii_hexdigit) {
            *i += 1;
        }
        return;
    }
    while b
        .get(*i)
        .is_some_and(|c| c.is_ascii_digit() || *c == b'.' || *c == b'_')
    {
        *i += 1;
    }
    if matches!(b.get(*i), Some(b'e' | b'E')) {
        let mut j = *i + 1;
        if matches!(b.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        if b.get(j).is_some_and(u8::is_ascii_digit) {
            *i = j;
            while b.get(*i).is_some_and(u8::is_ascii_digit) {
                *i += 1;
            }
        }
    }
}

/// A name without its quotes: `"x"`, `'x'`, `` `x` ``, `[x]` → `x`; anything else as it is.
pub fn unquote(s: &str) -> &str {
    let b = s.as_bytes();
    if b.len() >= 2
        && matches!(
            (b[0], b[b.len() - 1]),
            (b'"', b'"') | (b'\'', b'\'') | (b'`', b'`') | (b'[', b']')
        )
    {
        &s[1..s.len() - 1]
    } else {
        s
    }
}

/// One statement of a larger SQL text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatementText {
    /// Byte offset of its first token in the whole text.
    pub start: usize,
    /// Byte offset just past its last token (its `;` excluded).
    pub end: usize,
    /// Whether a `;` ended it.
    pub terminated: bool,
}

impl StatementText {
    /// Its text in `sql`.
    pub fn text<'a>(&self, sql: &'a str) -> &'a str {
        &sql[self.start..self.end]
    }
}

/// The tokens of one statement (tokens sorted by position, as [`tokenize`] makes them).
pub fn tokens_within<'t>(tokens: &'t [Token], st: &StatementText) -> &'t [Token] {
    let a = tokens.partition_point(|t| t.start < st.start);
    let b = tokens.partition_point(|t| t.end <= st.end);
    &tokens[a..b.max(a)]
}

/// Splits `sql` into statements the way SQLite reads them: a `;` inside a string, a quoted
/// name, a comment or the `BEGIN ... END` body of a `CREATE TRIGGER` does not end a statement.
/// Empty statements (only comments or `;`) are skipped.
pub fn split_statements(sql: &str) -> Vec<StatementText> {
    split_tokens(sql, &tokenize(sql))
}

/// [`split_statements`] over tokens already made.
pub fn split_tokens(sql: &str, tokens: &[Token]) -> Vec<StatementText> {
    let mut out = Vec::new();
    let mut first: Option<usize> = None; // index of the statement's first token
    let mut depth = 0u32; // BEGIN/CASE ... END nesting inside a trigger body
    let mut is_trigger = false;
    for (n, t) in tokens.iter().enumerate() {
        if t.kind == TokenKind::Semicolon && depth == 0 {
            if let Some(f) = first.take() {
                out.push(StatementText {
                    start: tokens[f].start,
                    end: tokens[n - 1].end,
                    terminated: true,
                });
            }
            is_trigger = false;
            continue;
        }
        let f = *first.get_or_insert(n);
        if n - f <= 3 && t.is_word(sql, "TRIGGER") {
            let head = &tokens[f..n];
            is_trigger = head.first().is_some_and(|h| h.is_word(sql, "CREATE"))
                && head[1..]
                    .iter()
                    .all(|h| h.is_word(sql, "TEMP") || h.is_word(sql, "TEMPORARY"));
        }
        if is_trigger && t.kind == TokenKind::Word {
            if t.is_word(sql, "BEGIN") && depth == 0 || depth > 0 && t.is_word(sql, "CASE") {
                depth += 1;
            } else if depth > 0 && t.is_word(sql, "END") {
                depth -= 1;
            }
        }
    }
    if let Some(f) = first {
        out.push(StatementText {
            start: tokens[f].start,
            end: tokens.last().map_or(sql.len(), |t| t.end),
            terminated: false,
        });
    }
    out
}

/// One occurrence of a parameter in the SQL text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamRef {
    /// The number SQLite gives it (1-based).
    pub number: u32,
    /// Byte offset of the token.
    pub start: usize,
    /// Byte offset just past the token.
    pub end: usize,
}

/// The parameters of one statement, numbered as SQLite numbers them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Params {
    /// Every occurrence, in text order.
    pub refs: Vec<ParamRef>,
    /// For each number 1..=count, its name without the sigil (`:owner` → `owner`), if named.
    pub names: Vec<Option<String>>,
    /// For each number 1..=count, the text of its first occurrence (`?`, `?3`, `:owner`).
    pub texts: Vec<Option<String>>,
}

impl Params {
    /// Numbers `?`, `?NNN`, `:name`, `@name`, `$name` like SQLite: `?NNN` sets the number, a bare `?`
    /// is one more than the largest so far, each distinct name takes the next number at its first
    /// occurrence, and every number up to the largest exists. A `?NNN` too large to represent is
    /// given `u32::MAX` so that the 100-parameter check rejects it.
    pub fn of(sql: &str, tokens: &[Token]) -> Params {
        let mut p = Params::default();
        let mut named: Vec<(String, u32)> = Vec::new();
        let mut max = 0u32;
        for t in tokens.iter().filter(|t| t.kind == TokenKind::Param) {
            let text = t.text(sql);
            let number = if let Some(digits) = text.strip_prefix('?') {
                if digits.is_empty() {
                    max.saturating_add(1)
                } else {
                    digits.parse::<u32>().unwrap_or(u32::MAX)
                }
            } else if let Some((_, n)) = named.iter().find(|(name, _)| name == text) {
                *n
            } else {
                let n = max.saturating_add(1);
                named.push((text.to_string(), n));
                n
            };
            max = max.max(number);
            p.refs.push(ParamRef {
                number,
                start: t.start,
                end: t.end,
            });
        }
        // Cap the table at a size we can hold; the count check reports anything larger.
        let count = max.min(100_000) as usize;
        p.names = vec![None; count];
        p.texts = vec![None; count];
        // `?0` has no slot: SQLite rejects it when the statement is prepared.
        for r in &p.refs {
            let Some(i) = (r.number as usize).checked_sub(1) else {
                continue;
            };
            if let Some(slot) = p.texts.get_mut(i) {
                if slot.is_none() {
                    let text = &sql[r.start..r.end];
                    *slot = Some(text.to_string());
                    if !text.starts_with('?') {
                        p.names[i] = Some(text[1..].to_string());
                    }
                }
            }
        }
        p
    }

    /// The largest parameter number (how many SQLite binds).
    pub fn count(&self) -> u32 {
        self.refs.iter().map(|r| r.number).max().unwrap_or(0)
    }

    /// The number of the parameter whose token starts at byte `offset`; never 0 (`?0` has no
    /// slot: SQLite rejects it).
    pub fn number_at(&self, offset: usize) -> Option<u32> {
        self.refs
            .iter()
            .find(|r| r.start == offset)
            .map(|r| r.number)
            .filter(|n| *n > 0)
    }
}

/// The statement as it is sent to D1: every parameter written `?NNN` (D1 binds only numbered
/// ones; `:name` keeps its SQLite number), and every override alias (`AS "n!"`, `AS "n: T"`)
/// reduced to its name so rows come back with the column names the Rust side expects.
pub fn for_d1(sql: &str, tokens: &[Token], params: &Params) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut last = 0;
    for (i, t) in tokens.iter().enumerate() {
        let replacement = match t.kind {
            // `?NNN` is already numbered.
            TokenKind::Param if t.text(sql).len() > 1 && t.text(sql).starts_with('?') => None,
            TokenKind::Param => params
                .refs
                .iter()
                .find(|r| r.start == t.start)
                .map(|r| format!("?{}", r.number)),
            TokenKind::QuotedIdent if i > 0 && tokens[i - 1].is_word(sql, "AS") => {
                let inner = unquote(t.text(sql));
                let name = crate::overrides::strip_override(inner);
                (name != inner).then(|| format!("\"{}\"", name.replace('"', "\"\"")))
            }
            _ => None,
        };
        if let Some(r) = replacement {
            out.push_str(&sql[last..t.start]);
            out.push_str(&r);
            last = t.end;
        }
    }
    out.push_str(&sql[last..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn d1_text_numbers_parameters_and_strips_overrides() {
        let sql =
            "SELECT a AS \"n!\", b AS `m: Id` FROM t WHERE x = :x AND y = ? AND z = :x AND w = ?7";
        let tokens = tokenize(sql);
        let out = for_d1(sql, &tokens, &Params::of(sql, &tokens));
        assert_eq!(
            out,
            "SELECT a AS \"n\", b AS \"m\" FROM t WHERE x = ?1 AND y = ?2 AND z = ?1 AND w = ?7"
        );
    }

    fn split(sql: &str) -> Vec<&str> {
        split_statements(sql).iter().map(|s| s.text(sql)).collect()
    }

    #[test]
    fn splits_on_semicolons_outside_strings_names_and_comments() {
        let sql =
            "INSERT INTO t VALUES ('a;b'); -- c;d\nSELECT \"x;y\", [p;q], `r;s` FROM t /* ; */;;";
        assert_eq!(
            split(sql),
            vec![
                "INSERT INTO t VALUES ('a;b')",
                "SELECT \"x;y\", [p;q], `r;s` FROM t"
            ]
        );
    }

    #[test]
    fn a_trigger_body_is_one_statement() {
        let sql = "CREATE TRIGGER IF NOT EXISTS t AFTER INSERT ON a BEGIN\n  UPDATE b SET x = CASE WHEN new.y THEN 1 ELSE 2 END;\n  DELETE FROM c;\nEND;\nCREATE TEMP TRIGGER u BEFORE DELETE ON a BEGIN SELECT 1; END; SELECT 2";
        let parts = split(sql);
        assert_eq!(parts.len(), 3, "{parts:?}");
        assert!(parts[0].ends_with("END"));
        assert!(parts[1].starts_with("CREATE TEMP TRIGGER"));
        assert_eq!(parts[2], "SELECT 2");
    }

    #[test]
    fn drizzle_breakpoints_are_comments() {
        let sql = "CREATE TABLE `a` (`id` integer);\n--> statement-breakpoint\nCREATE INDEX `i` ON `a` (`id`);";
        assert_eq!(split(sql).len(), 2);
    }

    #[test]
    fn numbers_parameters_like_sqlite() {
        let sql = "SELECT ?, :a, ?5, ?, :a, $1, @b, ?2";
        let p = Params::of(sql, &tokenize(sql));
        let numbers: Vec<u32> = p.refs.iter().map(|r| r.number).collect();
        assert_eq!(numbers, vec![1, 2, 5, 6, 2, 7, 8, 2]);
        assert_eq!(p.count(), 8);
        assert_eq!(p.names[1].as_deref(), Some("a"));
        assert_eq!(p.names[6].as_deref(), Some("1"));
        assert_eq!(p.names[2], None);
    }

    #[test]
    fn unterminated_input_never_panics() {
        for sql in [
            "'abc",
            "\"abc",
            "[abc",
            "/* abc",
            "x'00",
            "?99999999999",
            "é;'",
            "$",
        ] {
            let tokens = tokenize(sql);
            let _ = split_tokens(sql, &tokens);
            let p = Params::of(sql, &tokens);
            assert!(p.refs.iter().all(|r| p.number_at(r.start) != Some(0)));
        }
    }
}

/// How deeply a statement's expressions nest, measured on its tokens without recursion
/// ([`nesting`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Nesting {
    /// The deepest level reached.
    pub depth: usize,
    /// Byte offset of where that nesting starts: the first token of the chain of operators, or
    /// the outermost parenthesis, that adds the most levels on the way to the deepest point.
    pub start: usize,
    /// Byte offset just past that first token.
    pub start_end: usize,
}

/// What a word is to [`nesting`].
#[derive(Clone, Copy, PartialEq, Eq)]
enum NestingWord {
    /// Ends one expression and starts the next at the same level (a clause keyword, `AS`,
    /// `WHEN`...): the nesting of what came before does not add to what follows.
    Reset,
    /// `FROM`: a reset, but in `a IS [NOT] DISTINCT FROM b`.
    From,
    /// `DISTINCT`.
    Distinct,
    /// An operator: each one of a chain is one more level of the expression tree.
    Operator,
    /// `UNION`, `INTERSECT`, `EXCEPT`.
    Compound,
    /// `CASE`, which opens a level `END` closes.
    Case,
    /// `END`.
    End,
    /// Any other word.
    Other,
}

impl NestingWord {
    fn of(text: &str) -> NestingWord {
        // Upper-cased once, then matched: this runs for every word of every query.
        let mut buf = [0u8; 9];
        let Some(up) = buf.get_mut(..text.len()) else {
            return NestingWord::Other;
        };
        up.copy_from_slice(text.as_bytes());
        up.make_ascii_uppercase();
        match &*up {
            b"SELECT" | b"WHERE" | b"GROUP" | b"HAVING" | b"ORDER" | b"LIMIT" | b"OFFSET"
            | b"WINDOW" | b"VALUES" | b"SET" | b"RETURNING" | b"ON" | b"USING" | b"JOIN"
            | b"WHEN" | b"THEN" | b"ELSE" | b"AS" => NestingWord::Reset,
            b"FROM" => NestingWord::From,
            b"DISTINCT" => NestingWord::Distinct,
            b"AND" | b"OR" | b"NOT" | b"IS" | b"IN" | b"LIKE" | b"GLOB" | b"MATCH" | b"REGEXP"
            | b"BETWEEN" | b"ESCAPE" | b"COLLATE" | b"ISNULL" | b"NOTNULL" | b"EXISTS" => {
                NestingWord::Operator
            }
            b"UNION" | b"INTERSECT" | b"EXCEPT" => NestingWord::Compound,
            b"CASE" => NestingWord::Case,
            b"END" => NestingWord::End,
            _ => NestingWord::Other,
        }
    }
}

/// How deeply the expressions of `sql` nest (`tokens` are those of `sql`), in one pass over the
/// tokens: every open parenthesis and `CASE`, every operator of a chain (`a + b + ...`,
/// `x = ? OR ...`, each of `NOT NOT ...`) and every `UNION` / `INTERSECT` / `EXCEPT` of a
/// compound SELECT is one level, counted from the start of the expression (a `,` or a clause
/// keyword starts the next one). For SQL that sqlparser reads, this is at least the depth of
/// the tree it builds, but for the few nodes each parenthesis or subquery adds (sqlparser's own
/// recursion limit bounds those): how deep a walk over the tree would recurse, known before
/// parsing. Unbalanced input is measured as far as it goes.
pub fn nesting(sql: &str, tokens: &[Token]) -> Nesting {
    /// Levels a stretch of the text adds, and its first token's range.
    type Stretch = (usize, (usize, usize));
    struct Frame {
        /// The level of the frame's opening token.
        base: usize,
        /// Operators since the frame's current expression started.
        ops: usize,
        /// Compound operators in the frame.
        compound: usize,
        /// The first token of the current expression (`None`: the next token).
        first: Option<(usize, usize)>,
        /// The stretch of the frames around this one that adds the most levels.
        outer: Stretch,
        /// Opened by `CASE` (closed by `END`), not by `(`.
        case: bool,
    }
    impl Frame {
        fn level(&self) -> usize {
            self.base + self.compound + self.ops
        }
        /// The stretch adding the most levels down to here (the outer one on a tie).
        fn widest(&self, extra: usize, first: (usize, usize)) -> Stretch {
            let own = (self.compound + self.ops + extra, first);
            if own.0 > self.outer.0 {
                own
            } else {
                self.outer
            }
        }
    }
    let mut stack = vec![Frame {
        base: 0,
        ops: 0,
        compound: 0,
        first: None,
        outer: (0, (0, 0)),
        case: false,
    }];
    let mut best = Nesting::default();
    let mut prev: Option<(&Token, NestingWord)> = None;
    for t in tokens {
        let text = t.text(sql);
        let word = match t.kind {
            TokenKind::Word => NestingWord::of(text),
            _ => NestingWord::Other,
        };
        let reset = match word {
            NestingWord::Reset => true,
            // `a IS [NOT] DISTINCT FROM b` goes on.
            NestingWord::From => !prev.is_some_and(|(_, w)| w == NestingWord::Distinct),
            _ => text == "," || text == ";",
        };
        let last = stack.len() - 1;
        if reset {
            stack[last].ops = 0;
            stack[last].first = None;
            prev = Some((t, word));
            continue;
        }
        let first = *stack[last].first.get_or_insert((t.start, t.end));
        // A frame opened here: one level deeper than this one, which it adds to.
        let opened = |top: &Frame, case| Frame {
            base: top.level() + 1,
            ops: 0,
            compound: 0,
            first: Some((t.start, t.end)),
            outer: top.widest(1, first),
            case,
        };
        match (word, text) {
            (_, "(") => stack.push(opened(&stack[last], false)),
            (_, ")") => {
                while stack.len() > 1 {
                    if !stack.pop().is_some_and(|f| f.case) {
                        break;
                    }
                }
            }
            (NestingWord::Case, _) => stack.push(opened(&stack[last], true)),
            (NestingWord::End, _) if stack[last].case => {
                stack.pop();
            }
            (NestingWord::Compound, _) => stack[last].compound += 1,
            (NestingWord::Operator, _) => stack[last].ops += 1,
            (_, ".") => {}
            // One operator however many characters it has (`||`, `<=`, `->>`).
            _ if t.kind == TokenKind::Punct => {
                let joined = prev.is_some_and(|(p, _)| {
                    p.kind == TokenKind::Punct
                        && p.end == t.start
                        && !matches!(p.text(sql), "(" | ")" | "," | ".")
                });
                if !joined {
                    stack[last].ops += 1;
                }
            }
            _ => {}
        }
        let top = &stack[stack.len() - 1];
        if top.level() > best.depth {
            let (_, (start, start_end)) = top.widest(0, top.first.unwrap_or(first));
            best = Nesting {
                depth: top.level(),
                start,
                start_end,
            };
        }
        prev = Some((t, word));
    }
    best
}

#[cfg(test)]
mod nesting_tests {
    use super::{nesting, tokenize, Nesting};

    /// (depth, column of the start) of `sql` (one line).
    fn measure(sql: &str) -> (usize, usize) {
        let Nesting {
            depth,
            start,
            start_end,
        } = nesting(sql, &tokenize(sql));
        assert!(start_end > start || depth == 0, "{sql}");
        (depth, start + 1)
    }

    #[test]
    fn chains_count_one_level_per_operator() {
        assert_eq!(measure("SELECT 1 AS x"), (0, 1));
        assert_eq!(measure("SELECT 1+1+1 AS x"), (2, 8));
        let plus = format!("SELECT {} AS x", vec!["1"; 10_000].join("+"));
        assert_eq!(measure(&plus), (9_999, 8));
        // `||` is one operator, not two.
        let concat = format!("SELECT {} AS x", vec!["'a'"; 12_000].join("||"));
        assert_eq!(measure(&concat), (11_999, 8));
        let not = format!("SELECT {}1 AS x", "NOT ".repeat(20_000));
        assert_eq!(measure(&not), (20_000, 8));
        // Each item of a list and each clause starts again.
        assert_eq!(
            measure("SELECT 1+1, 2+2+2 FROM t WHERE a = 1 AND b = 2"),
            (3, 32)
        );
        // `IS NOT DISTINCT FROM` goes on.
        assert_eq!(measure("SELECT a IS NOT DISTINCT FROM b + c AS x"), (3, 8));
        let union = vec!["SELECT 1 AS x"; 600].join(" UNION ALL ");
        assert_eq!(measure(&union).0, 599);
    }

    #[test]
    fn nesting_starts_at_the_outermost_parenthesis_or_the_longest_chain() {
        let parens = format!(
            "SELECT id, {}1{} AS x",
            "(".repeat(10_000),
            ")".repeat(10_000)
        );
        assert_eq!(measure(&parens), (10_000, 12));
        let subqueries = format!(
            "SELECT {}1{} AS x",
            "(SELECT ".repeat(3_000),
            ")".repeat(3_000)
        );
        assert_eq!(measure(&subqueries), (3_000, 8));
        // A chain inside a subquery: where the chain starts.
        let inner = format!(
            "SELECT id FROM t WHERE id IN (SELECT id FROM t WHERE {} = 1)",
            vec!["id"; 100].join(" + ")
        );
        assert_eq!(measure(&inner), (2 + 99 + 1, 54));
        // CASE opens a level; its branches are siblings (the longest chain, `b + c + d`,
        // adds the most).
        assert_eq!(
            measure("SELECT CASE WHEN a = 1 THEN b + c + d ELSE 0 END + 1 AS x"),
            (3, 29)
        );
        // Unbalanced input is measured, not trusted.
        assert_eq!(measure(")))) SELECT (((").0, 3);
    }
}

/// A window frame's `EXCLUDE` clause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exclude {
    /// Byte offset of `EXCLUDE`.
    pub start: usize,
    /// Byte offset just past the clause.
    pub end: usize,
    /// Whether it can leave the current row out of the frame (every form but `NO OTHERS`).
    pub drops_current_row: bool,
}

/// Byte ranges of window-frame `EXCLUDE CURRENT ROW | GROUP | TIES | NO OTHERS` clauses, which
/// sqlparser cannot read. [`for_sqlparser`] blanks them; the analyzer still needs to know where
/// one was, since every EXCLUDE but `NO OTHERS` can leave the current row out of the frame.
pub fn window_excludes(sql: &str, tokens: &[Token]) -> Vec<Exclude> {
    let mut out = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        if !t.is_word(sql, "EXCLUDE") {
            continue;
        }
        let next = |k: usize| tokens.get(i + k);
        let (len, drops_current) = match next(1) {
            Some(n)
                if n.is_word(sql, "CURRENT") && next(2).is_some_and(|r| r.is_word(sql, "ROW")) =>
            {
                (3, true)
            }
            Some(n)
                if n.is_word(sql, "NO") && next(2).is_some_and(|r| r.is_word(sql, "OTHERS")) =>
            {
                (3, false)
            }
            Some(n) if n.is_word(sql, "GROUP") || n.is_word(sql, "TIES") => {
                (2, !n.is_word(sql, "TIES"))
            }
            _ => continue,
        };
        out.push(Exclude {
            start: t.start,
            end: tokens[i + len - 1].end,
            drops_current_row: drops_current,
        });
    }
    out
}

fn paren_follows(sql: &str, tokens: &[Token], i: usize) -> bool {
    tokens.get(i + 1).is_some_and(|n| n.text(sql) == "(")
}

/// `sql` rewritten, byte for byte the same length so every location stays valid, where SQLite
/// accepts syntax that sqlparser does not: `AS [NOT] MATERIALIZED (` in a CTE (a planner hint
/// that changes no type) is blanked out, and the words of a multi-word type in `CAST(x AS
/// FLOATING POINT)` are joined with `_` (the affinity rules look for substrings, which stay).
/// `tokens` are those of `sql` (or of a text `sql` is a prefix of).
pub fn for_sqlparser<'s>(sql: &'s str, tokens: &[Token]) -> std::borrow::Cow<'s, str> {
    let mut blanks: Vec<(usize, usize)> = Vec::new();
    let mut joins: Vec<(usize, usize)> = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        if !t.is_word(sql, "CAST") || !paren_follows(sql, tokens, i) {
            continue;
        }
        let mut depth = 0;
        let mut last_as = None;
        for (j, u) in tokens.iter().enumerate().skip(i + 1) {
            match u.text(sql) {
                "(" => depth += 1,
                ")" => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                _ if depth == 1 && u.is_word(sql, "AS") => last_as = Some(j),
                _ => {}
            }
        }
        let Some(a) = last_as else { continue };
        let words: Vec<&Token> = tokens[a + 1..]
            .iter()
            .take_while(|w| w.kind == TokenKind::Word)
            .collect();
        for pair in words.windows(2) {
            let gap = (pair[0].end, pair[1].start);
            if sql[gap.0..gap.1].bytes().all(|b| b == b' ' || b == b'\t') {
                joins.push(gap);
            }
        }
    }
    for (i, t) in tokens.iter().enumerate().skip(1) {
        if !t.is_word(sql, "MATERIALIZED") || !paren_follows(sql, tokens, i) {
            continue;
        }
        let prev = &tokens[i - 1];
        if prev.is_word(sql, "AS") {
            blanks.push((t.start, t.end));
        } else if prev.is_word(sql, "NOT") && i > 1 && tokens[i - 2].is_word(sql, "AS") {
            blanks.push((prev.start, t.end));
        }
    }
    blanks.extend(
        window_excludes(sql, tokens)
            .into_iter()
            .map(|e| (e.start, e.end)),
    );
    if blanks.is_empty() && joins.is_empty() {
        return std::borrow::Cow::Borrowed(sql);
    }
    let mut out = sql.to_string();
    for (start, end) in blanks {
        out.replace_range(start..end, &" ".repeat(end - start));
    }
    for (start, end) in joins {
        out.replace_range(start..end, &"_".repeat(end - start));
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod rewrite_tests {
    use super::tokenize;

    fn for_sqlparser(sql: &str) -> String {
        super::for_sqlparser(sql, &tokenize(sql)).into_owned()
    }

    #[test]
    fn materialized_hints_are_blanked_keeping_length() {
        let sql = "WITH x AS MATERIALIZED (SELECT 1), y AS NOT MATERIALIZED (SELECT 2) SELECT 'MATERIALIZED'";
        let want = "WITH x AS              (SELECT 1), y AS                  (SELECT 2) SELECT 'MATERIALIZED'";
        assert_eq!(for_sqlparser(sql), want);
        assert_eq!(for_sqlparser("SELECT 1"), "SELECT 1");
        assert_eq!(
            for_sqlparser("SELECT CAST(a AS FLOATING POINT), CAST((1) AS DOUBLE  PRECISION) AS b"),
            "SELECT CAST(a AS FLOATING_POINT), CAST((1) AS DOUBLE__PRECISION) AS b"
        );
    }
}
