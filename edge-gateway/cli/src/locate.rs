//! Where a JSON path's value sits in the source text: `$.routes[2].pool` → line 14, column 15.
//!
//! A small tokenizer walks the document once and records the byte offset of every value under
//! the path the core's validator uses for it (`.key` for identifier-like keys, `["key"]`
//! otherwise, `[n]` for array elements). A path with no value of its own (a missing field) is
//! placed at its nearest recorded ancestor. It never judges the document: an unparsable text
//! yields no positions, and serde_json's own error position is used instead.

use std::collections::HashMap;

/// Positions of every value of one document, by JSON path.
pub(crate) struct Locator<'a> {
    text: &'a str,
    offsets: HashMap<String, usize>,
}

/// A 1-based line and column (columns count characters, not bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Position {
    /// Line, from 1.
    pub(crate) line: usize,
    /// Column, from 1.
    pub(crate) column: usize,
}

impl<'a> Locator<'a> {
    /// Records every value's position; an unparsable text records none.
    pub(crate) fn new(text: &'a str) -> Locator<'a> {
        let mut scanner = Scanner { bytes: text.as_bytes(), at: 0, offsets: HashMap::new() };
        scanner.skip_space();
        if scanner.value("$".to_owned()).is_none() {
            scanner.offsets.clear();
        }
        Locator { text, offsets: scanner.offsets }
    }

    /// The position of `path`'s value, or of its nearest recorded ancestor.
    pub(crate) fn position(&self, path: &str) -> Option<Position> {
        let offset = match self.offsets.get(path) {
            Some(&offset) => offset,
            None => {
                let ancestor = self
                    .offsets
                    .keys()
                    .filter(|p| path.starts_with(p.as_str()) && path[p.len()..].starts_with(['.', '[']))
                    .max_by_key(|p| p.len())?;
                self.offsets[ancestor]
            }
        };
        Some(self.at(offset))
    }

    fn at(&self, offset: usize) -> Position {
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Position { line, column: before[line_start..].chars().count() + 1 }
    }
}

/// `.key` for identifier-like keys, `["key"]` otherwise (as the core's validator writes them).
fn key_path(key: &str) -> String {
    let plain = !key.is_empty()
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && !key.starts_with(|c: char| c.is_ascii_digit());
    if plain { format!(".{key}") } else { format!("[{}]", serde_json::Value::String(key.to_owned())) }
}

struct Scanner<'a> {
    bytes: &'a [u8],
    at: usize,
    offsets: HashMap<String, usize>,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn skip_space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        self.skip_space();
        (self.peek() == Some(byte)).then(|| self.at += 1)
    }

    /// One value at `self.at` (after white space), recorded under `path`.
    fn value(&mut self, path: String) -> Option<()> {
        self.skip_space();
        self.offsets.insert(path.clone(), self.at);
        match self.peek()? {
            b'{' => self.object(&path),
            b'[' => self.array(&path),
            b'"' => self.string().map(drop),
            _ => {
                let start = self.at;
                while matches!(self.peek(), Some(b) if b.is_ascii_alphanumeric() || b"+-.".contains(&b)) {
                    self.at += 1;
                }
                (self.at > start).then_some(())
            }
        }
    }

    fn object(&mut self, path: &str) -> Option<()> {
        self.at += 1;
        if self.eat(b'}').is_some() {
            return Some(());
        }
        loop {
            self.skip_space();
            let key = self.string()?;
            self.eat(b':')?;
            self.value(format!("{path}{}", key_path(&key)))?;
            if self.eat(b',').is_none() {
                return self.eat(b'}');
            }
        }
    }

    fn array(&mut self, path: &str) -> Option<()> {
        self.at += 1;
        if self.eat(b']').is_some() {
            return Some(());
        }
        for index in 0.. {
            self.value(format!("{path}[{index}]"))?;
            if self.eat(b',').is_none() {
                break;
            }
        }
        self.eat(b']')
    }

    /// A string literal, decoded.
    fn string(&mut self) -> Option<String> {
        let start = self.at;
        if self.peek()? != b'"' {
            return None;
        }
        self.at += 1;
        loop {
            match self.peek()? {
                b'\\' => self.at += 2,
                b'"' => break,
                _ => self.at += 1,
            }
        }
        self.at += 1;
        let literal = std::str::from_utf8(self.bytes.get(start..self.at)?).ok()?;
        serde_json::from_str(literal).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_the_values_position() {
        let text = "{\n  \"routes\": [\n    {\"id\": \"a\", \"pool\": \"p\"},\n    {\"id\": \"b\"}\n  ],\n  \"rate_limits\": {\"a b\": {\"limit\": 5}},\n  \"é\": 1, \"x\": \"é\", \"y\": 2\n}";
        let at = Locator::new(text);
        let cases = [
            ("$", 1, 1),
            ("$.routes", 2, 13),
            ("$.routes[0]", 3, 5),
            ("$.routes[0].pool", 3, 25),
            ("$.routes[1].id", 4, 12),
            ("$.routes[1].pool", 4, 5),
            ("$.rate_limits[\"a b\"].limit", 6, 36),
            ("$[\"é\"]", 7, 8),
            ("$.y", 7, 26),
            ("$.nowhere.deep", 1, 1),
        ];
        for (path, line, column) in cases {
            assert_eq!(at.position(path), Some(Position { line, column }), "{path}");
        }
    }

    #[test]
    fn an_unparsable_text_has_no_positions() {
        assert_eq!(Locator::new("{\"a\": [1, 2").position("$.a"), None);
    }
}
