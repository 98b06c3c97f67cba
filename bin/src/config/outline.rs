//! A line map of a YAML source: which key path each line defines.
//!
//! The YAML parser reports a line for syntax and type errors, but semantic
//! errors (a duplicate interface, an undefined policy) are found later, on
//! the typed values, where the position is gone. This module rebuilds it from
//! the text: an indentation-based scan that knows block mappings, block
//! sequences (`- `) and one line of flow mappings (`{ a: 1, b: [x] }`), which
//! is all a wgbgp config uses. It is a locator, not a parser: on input it
//! does not understand it simply records nothing for that line.
//!
//! Paths look like `peers.s2.wireguard.public_key` and
//! `policies.local-only[1].match.prefix`.

/// Key paths by line, built once per source.
#[derive(Debug, Clone, Default)]
pub struct Outline {
    /// `(line, column, path)` in source order; 1-based line and column of
    /// the key (or `-`); a line may define several paths (flow mappings).
    entries: Vec<(usize, usize, String)>,
}

#[derive(Debug, Clone)]
enum Segment {
    Key(String),
    Index(usize),
}

fn join(stack: &[(usize, Segment)]) -> String {
    let mut out = String::new();
    for (_, seg) in stack {
        match seg {
            Segment::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Segment::Index(i) => {
                out.push_str(&format!("[{i}]"));
            }
        }
    }
    out
}

/// Removes a trailing `# comment` that is outside quotes.
fn strip_comment(line: &str) -> &str {
    let mut quote: Option<char> = None;
    let mut prev_space = true;
    for (i, c) in line.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == '#' && prev_space => return &line[..i],
            None => {}
        }
        prev_space = c.is_whitespace();
    }
    line
}

/// If `s` starts with `key:` (followed by space or end), returns the key
/// (unquoted) and the rest after the colon.
fn split_key(s: &str) -> Option<(String, &str)> {
    let (key, rest) = if let Some(q) = s.chars().next().filter(|c| *c == '"' || *c == '\'') {
        let end = s[1..].find(q)? + 1;
        let key = s[1..end].to_string();
        let rest = s[end + 1..].trim_start();
        (key, rest.strip_prefix(':')?)
    } else {
        let mut idx = None;
        let bytes = s.as_bytes();
        for (i, b) in bytes.iter().enumerate() {
            if *b == b':' && (i + 1 == bytes.len() || bytes[i + 1] == b' ') {
                idx = Some(i);
                break;
            }
            if matches!(*b, b'{' | b'[' | b',' | b'"' | b'\'') {
                return None;
            }
        }
        let i = idx?;
        (s[..i].trim_end().to_string(), &s[i + 1..])
    };
    if key.is_empty() {
        return None;
    }
    Some((key, rest))
}

/// Splits the inside of a flow collection at top-level commas.
fn split_flow(inner: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut quote: Option<char> = None;
    let mut start = 0;
    for (i, c) in inner.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None => match c {
                '"' | '\'' => quote = Some(c),
                '{' | '[' => depth += 1,
                '}' | ']' => depth -= 1,
                ',' if depth == 0 => {
                    parts.push(&inner[start..i]);
                    start = i + 1;
                }
                _ => {}
            },
        }
    }
    parts.push(&inner[start..]);
    parts
}

impl Outline {
    /// Scans `src` and records the key path defined on each line.
    pub fn new(src: &str) -> Outline {
        let mut entries = Vec::new();
        let mut stack: Vec<(usize, Segment)> = Vec::new();
        for (n, raw) in src.lines().enumerate() {
            let line_no = n + 1;
            let line = strip_comment(raw).trim_end();
            let trimmed = line.trim_start();
            if trimmed.is_empty() || trimmed.starts_with("---") || trimmed.starts_with("...") {
                continue;
            }
            let mut col = line.len() - trimmed.len();
            let mut rest = trimmed;
            // Block sequence items, possibly nested on one line (`- - x`).
            while rest == "-" || rest.starts_with("- ") {
                let mut index = 0;
                while let Some((indent, seg)) = stack.last() {
                    if *indent > col {
                        stack.pop();
                    } else if *indent == col {
                        if let Segment::Index(i) = seg {
                            index = i + 1;
                            stack.pop();
                        }
                        break;
                    } else {
                        break;
                    }
                }
                stack.push((col, Segment::Index(index)));
                entries.push((line_no, col + 1, join(&stack)));
                let after = &rest[1..];
                let body = after.trim_start();
                col += 1 + (after.len() - body.len());
                rest = body;
            }
            let Some((key, value)) = split_key(rest) else {
                continue;
            };
            while stack.last().is_some_and(|(indent, _)| *indent >= col) {
                stack.pop();
            }
            stack.push((col, Segment::Key(key)));
            let path = join(&stack);
            entries.push((line_no, col + 1, path.clone()));
            let value = value.trim();
            Self::flow(&mut entries, line_no, offset(raw, value), &path, value);
        }
        Outline { entries }
    }

    /// Records the keys of a one-line flow mapping `{ k: v, ... }` under `base`.
    /// `col0` is the 0-based column of `value` in its line.
    fn flow(
        entries: &mut Vec<(usize, usize, String)>,
        line_no: usize,
        col0: usize,
        base: &str,
        value: &str,
    ) {
        let Some(inner) = value.strip_prefix('{').and_then(|v| v.strip_suffix('}')) else {
            return;
        };
        for part in split_flow(inner) {
            let Some((key, v)) = split_key(part.trim()) else {
                continue;
            };
            let path = format!("{base}.{key}");
            let key_col = col0 + offset(value, part.trim_start());
            entries.push((line_no, key_col + 1, path.clone()));
            let v = v.trim();
            Self::flow(entries, line_no, col0 + offset(value, v), &path, v);
        }
    }

    /// The line defining `path`, or the line of its nearest ancestor that is
    /// in the source (a missing key is reported where its parent is).
    pub fn line_of(&self, path: &str) -> Option<usize> {
        let mut p = path.to_string();
        loop {
            if let Some((line, _, _)) = self.entries.iter().find(|(_, _, e)| *e == p) {
                return Some(*line);
            }
            let cut = p.rfind(['.', '['])?;
            p.truncate(cut);
        }
    }

    /// The key path at `line`:`column` (1-based): the last key on that
    /// line starting at or before the column, else the deepest key of the
    /// closest line before it.
    pub fn path_at(&self, line: usize, column: usize) -> Option<&str> {
        self.entries
            .iter()
            .rev()
            .find(|(l, c, _)| *l < line || (*l == line && *c <= column))
            .map(|(_, _, p)| p.as_str())
    }
}

/// Byte offset of `inner` within `outer` (`inner` must be a subslice).
fn offset(outer: &str, inner: &str) -> usize {
    (inner.as_ptr() as usize).saturating_sub(outer.as_ptr() as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str = "\
router_id: 1.1.1.1   # comment
metrics: { listen: \"127.0.0.1:9179\" }
peers:
  s2:
    address: [2.2.2.2, \"fd00::2\"]
    wireguard:
      public_key: abc=
  's3':
    asn: 65502
policies:
  local-only:
    - match: { prefix: [198.19.0.0/16 le 32] }
      action: accept
    - action: reject
  list:
  - a
  - b
";

    #[test]
    fn maps_paths_to_lines() {
        let o = Outline::new(SRC);
        assert_eq!(o.line_of("router_id"), Some(1));
        assert_eq!(o.line_of("metrics.listen"), Some(2));
        assert_eq!(o.line_of("peers.s2.address"), Some(5));
        assert_eq!(o.line_of("peers.s2.wireguard.public_key"), Some(7));
        assert_eq!(o.line_of("peers.s3.asn"), Some(9));
        assert_eq!(o.line_of("policies.local-only[0].match.prefix"), Some(12));
        assert_eq!(o.line_of("policies.local-only[0].action"), Some(13));
        assert_eq!(o.line_of("policies.local-only[1].action"), Some(14));
        assert_eq!(o.line_of("policies.list[1]"), Some(17));
        // A missing key falls back to its parent.
        assert_eq!(o.line_of("peers.s3.wireguard.interface"), Some(8));
        assert_eq!(o.line_of("nothing"), None);
    }

    #[test]
    fn maps_lines_to_paths() {
        let o = Outline::new(SRC);
        assert_eq!(o.path_at(7, 20), Some("peers.s2.wireguard.public_key"));
        assert_eq!(
            o.path_at(12, 60),
            Some("policies.local-only[0].match.prefix")
        );
        assert_eq!(o.path_at(12, 7), Some("policies.local-only[0].match"));
        assert_eq!(o.path_at(14, 30), Some("policies.local-only[1].action"));
        assert_eq!(o.path_at(2, 1), Some("metrics"));
        assert_eq!(o.path_at(2, 12), Some("metrics.listen"));
        assert_eq!(o.path_at(8, 1), Some("peers.s2.wireguard.public_key"));
    }
}
