//! A wrangler file's byte-order mark and line endings, set aside while the file is read and
//! edited as text without a BOM and with `\n` line endings (what `toml_edit` writes, and what
//! the JSONC editor inserts), then put back: the BOM stays, every line d1kit leaves keeps its
//! own ending, and every line d1kit writes gets the file's (`\r\n` when most of its lines end
//! so). Diagnostics measured in the edited text are moved back onto the file's bytes, which is
//! what a report shows them in.

use crate::diagnostic::{Diagnostic, Diagnostics, Location};
use std::borrow::Cow;

const BOM: char = '\u{feff}';

/// Above this many line pairs, the lines d1kit changed in a file of mixed endings are found by
/// their common start and end only (the rest gets the file's ending).
const MAX_DIFF_CELLS: usize = 4_000_000;

/// One wrangler file's text, and the same text as the editors see it.
#[derive(Debug)]
pub(super) struct Framed<'a> {
    original: &'a str,
    /// No BOM, every `\r\n` a `\n`.
    pub(super) text: Cow<'a, str>,
    bom: bool,
    /// The offset in `text` of each `\n` that is a `\r\n` in the file, in order.
    crlf: Vec<usize>,
    /// How many lines end with a `\n` alone.
    lf: usize,
}

impl<'a> Framed<'a> {
    pub(super) fn new(original: &'a str) -> Framed<'a> {
        let bom = original.starts_with(BOM);
        let body = original.strip_prefix(BOM).unwrap_or(original);
        let lf = body.bytes().filter(|b| *b == b'\n').count();
        if !body.contains("\r\n") {
            return Framed {
                original,
                text: Cow::Borrowed(body),
                bom,
                crlf: Vec::new(),
                lf,
            };
        }
        let mut text = String::with_capacity(body.len());
        let mut crlf = Vec::new();
        let mut rest = body;
        while let Some(i) = rest.find("\r\n") {
            text.push_str(&rest[..i]);
            crlf.push(text.len());
            text.push('\n');
            rest = &rest[i + 2..];
        }
        text.push_str(rest);
        Framed {
            original,
            text: Cow::Owned(text),
            bom,
            lf: lf - crlf.len(),
            crlf,
        }
    }

    /// The line ending d1kit writes in this file: `\r\n` when most of its lines end so.
    fn ending(&self) -> &'static str {
        if !self.crlf.is_empty() && self.crlf.len() >= self.lf {
            "\r\n"
        } else {
            "\n"
        }
    }

    /// `edited` (an edit of [`Framed::text`]) with the file's BOM and line endings: the file
    /// itself when nothing changed.
    pub(super) fn frame(&self, edited: &str) -> String {
        if edited == self.text {
            return self.original.to_string();
        }
        let mut out = String::with_capacity(edited.len() + self.crlf.len() + 3);
        if self.bom {
            out.push(BOM);
        }
        if self.crlf.is_empty() {
            out.push_str(edited);
        } else if self.lf == 0 {
            out.push_str(&edited.replace('\n', "\r\n"));
        } else {
            self.mixed(edited, &mut out);
        }
        out
    }

    /// A file of mixed line endings: each line of `edited` that d1kit kept from the file gets
    /// its ending back, each new one the file's.
    fn mixed(&self, edited: &str, out: &mut String) {
        let old: Vec<(&str, &str)> = {
            let mut at = 0;
            self.text
                .split_inclusive('\n')
                .map(|line| {
                    at += line.len();
                    let ending = if !line.ends_with('\n') {
                        ""
                    } else if self.crlf.binary_search(&(at - 1)).is_ok() {
                        "\r\n"
                    } else {
                        "\n"
                    };
                    (line, ending)
                })
                .collect()
        };
        let new: Vec<&str> = edited.split_inclusive('\n').collect();
        let kept = kept_lines(&old.iter().map(|(l, _)| *l).collect::<Vec<_>>(), &new);
        for (line, from) in new.iter().zip(kept) {
            match line.strip_suffix('\n') {
                None => out.push_str(line),
                Some(body) => {
                    out.push_str(body);
                    out.push_str(from.map_or(self.ending(), |i| old[i].1));
                }
            }
        }
    }

    /// The offset in the file of `offset` in [`Framed::text`].
    pub(super) fn offset(&self, offset: usize) -> usize {
        let bom = if self.bom { BOM.len_utf8() } else { 0 };
        offset + bom + self.crlf.partition_point(|&n| n < offset)
    }

    /// `d` with its location moved onto the file's bytes.
    pub(super) fn fix(&self, mut d: Diagnostic) -> Diagnostic {
        if !self.bom && self.crlf.is_empty() {
            return d;
        }
        if let Some(l) = d.span.location {
            let start = self.offset(l.offset);
            let end = self.offset(l.offset + d.span.len);
            d.span.location = Some(Location::at(self.original, start));
            d.span.len = (end - start).max(1);
        }
        d
    }

    /// [`Framed::fix`] for each.
    pub(super) fn fix_all(&self, d: Diagnostics) -> Diagnostics {
        Diagnostics(d.0.into_iter().map(|d| self.fix(d)).collect())
    }
}

/// For each line of `new`, the line of `old` it is (an unchanged line d1kit kept), or `None`
/// for a line d1kit wrote: the longest common subsequence of the two, after their common start
/// and end.
fn kept_lines(old: &[&str], new: &[&str]) -> Vec<Option<usize>> {
    let mut kept = vec![None; new.len()];
    let prefix = old.iter().zip(new).take_while(|(a, b)| a == b).count();
    for (i, k) in kept.iter_mut().enumerate().take(prefix) {
        *k = Some(i);
    }
    let suffix = old[prefix..]
        .iter()
        .rev()
        .zip(new[prefix..].iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    for j in 0..suffix {
        kept[new.len() - 1 - j] = Some(old.len() - 1 - j);
    }
    let (a, b) = (
        &old[prefix..old.len() - suffix],
        &new[prefix..new.len() - suffix],
    );
    if a.is_empty() || b.is_empty() || (a.len() + 1) * (b.len() + 1) > MAX_DIFF_CELLS {
        return kept;
    }
    // lcs[i][j]: the longest common subsequence of a[i..] and b[j..].
    let w = b.len() + 1;
    let mut lcs = vec![0u32; (a.len() + 1) * w];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i * w + j] = if a[i] == b[j] {
                lcs[(i + 1) * w + j + 1] + 1
            } else {
                lcs[(i + 1) * w + j].max(lcs[i * w + j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i] == b[j] {
            kept[prefix + j] = Some(prefix + i);
            i += 1;
            j += 1;
        } else if lcs[(i + 1) * w + j] >= lcs[i * w + j + 1] {
            i += 1;
        } else {
            j += 1;
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_left_alone() {
        let f = Framed::new("a\nb\n");
        assert!(matches!(f.text, Cow::Borrowed("a\nb\n")));
        assert_eq!(f.frame("a\nx\nb\n"), "a\nx\nb\n");
        assert_eq!(f.offset(3), 3);
    }

    #[test]
    fn crlf_and_bom_come_back() {
        let file = "\u{feff}a = 1\r\nb = 2\r\n";
        let f = Framed::new(file);
        assert_eq!(f.text, "a = 1\nb = 2\n");
        assert_eq!(f.frame(&f.text), file);
        assert_eq!(
            f.frame("a = 1\nnew = 3\nb = 2\n"),
            "\u{feff}a = 1\r\nnew = 3\r\nb = 2\r\n"
        );
        // `b` is at 6 in the text, after the BOM (3 bytes) and one `\r` in the file.
        assert_eq!(f.offset(6), 10);
        assert_eq!(&file[f.offset(6)..f.offset(6) + 1], "b");
        // The `\n` of a `\r\n` maps to its `\r`.
        assert_eq!(&file[f.offset(5)..f.offset(5) + 2], "\r\n");
        // A stray `\r` stays where it is.
        let odd = "x\r\r\ny\r\n";
        let f = Framed::new(odd);
        assert_eq!(f.text, "x\r\ny\n");
        assert_eq!(f.frame(&f.text), odd);
        assert_eq!(f.frame("x\r\ny\nz\n"), "x\r\r\ny\r\nz\r\n");
    }

    #[test]
    fn mixed_endings_keep_each_line_and_give_new_lines_the_most_common() {
        let file = "a\nb\r\nc\r\nd\r\n";
        let f = Framed::new(file);
        assert_eq!(f.frame("a\nb\nnew\nc\nd\n"), "a\nb\r\nnew\r\nc\r\nd\r\n");
        assert_eq!(f.frame("a\nc\nd\n"), "a\nc\r\nd\r\n");
        assert_eq!(f.frame("a\nb\nc\nd\nmore"), "a\nb\r\nc\r\nd\r\nmore");
        let f = Framed::new("a\r\nb\nc\n");
        assert_eq!(f.frame("a\nb\nx\nc\n"), "a\r\nb\nx\nc\n");
        // Lines moved about: the common subsequence keeps its endings.
        let f = Framed::new("k\nx\r\ny\nz\r\n");
        assert_eq!(f.frame("k\nz\nx\nn\ny\n"), "k\nz\r\nx\r\nn\r\ny\n");
    }

    #[test]
    fn diagnostics_point_into_the_file() {
        let file = "\u{feff}a\r\nbad\r\n";
        let f = Framed::new(file);
        let d = Diagnostic::error("x").at(Location::at(&f.text, 2), 3);
        let d = f.fix(d);
        let l = d.span.location.unwrap();
        assert_eq!((l.line, l.offset, d.span.len), (2, 6, 3));
        assert_eq!(&file[l.offset..l.offset + d.span.len], "bad");
    }
}
