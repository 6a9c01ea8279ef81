//! Positions in TOML sources, so that every error about a file we read names
//! the file, the line and the key.

use std::fmt;
use std::path::{Path, PathBuf};

/// 1-based line number of a byte offset.
pub fn line_of(src: &str, offset: usize) -> usize {
    let end = offset.min(src.len());
    src.as_bytes()[..end]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// The key that a line assigns (`read_only = "x"` gives `read_only`), or the
/// table header the line opens.
pub fn key_on_line(src: &str, line: usize) -> Option<String> {
    let text = src.lines().nth(line.checked_sub(1)?)?.trim();
    if let Some(header) = text.strip_prefix('[') {
        return Some(
            header
                .trim_matches(|c| c == '[' || c == ']')
                .trim()
                .to_string(),
        );
    }
    let (key, _) = text.split_once('=')?;
    let key = key.trim().trim_matches('"');
    (!key.is_empty()).then(|| key.to_string())
}

/// An error in a TOML file, located.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileError {
    pub path: PathBuf,
    pub line: Option<usize>,
    pub key: Option<String>,
    pub message: String,
}

impl FileError {
    pub fn new(path: &Path, message: impl Into<String>) -> Self {
        Self {
            path: path.to_path_buf(),
            line: None,
            key: None,
            message: message.into(),
        }
    }

    pub fn at(mut self, src: &str, offset: usize) -> Self {
        let line = line_of(src, offset);
        self.line = Some(line);
        if self.key.is_none() {
            self.key = key_on_line(src, line);
        }
        self
    }

    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Converts a toml deserialisation error.
    pub fn from_toml(path: &Path, src: &str, err: &toml::de::Error) -> Self {
        let message = err.message().trim().to_string();
        let base = Self::new(path, message);
        match err.span() {
            Some(span) => base.at(src, span.start),
            None => base,
        }
    }
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(line) = self.line {
            write!(f, ", line {line}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ", key `{key}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for FileError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_lines_and_keys() {
        let src = "a = 1\n[t]\nread_only = \"x\"\n";
        assert_eq!(line_of(src, 0), 1);
        assert_eq!(line_of(src, src.find("read_only").unwrap()), 3);
        assert_eq!(key_on_line(src, 3).as_deref(), Some("read_only"));
        assert_eq!(key_on_line(src, 2).as_deref(), Some("t"));
        let e = FileError::new(Path::new("/x.toml"), "bad").at(src, src.find("\"x\"").unwrap());
        assert_eq!(e.to_string(), "/x.toml, line 3, key `read_only`: bad");
    }
}
