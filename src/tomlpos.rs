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

/// The `[name]` table of a TOML source read as `T` (whose unknown keys are
/// errors: `#[serde(deny_unknown_fields)]`), the rest of the file ignored;
/// an error names the file, the line and the key, and serde's message lists
/// the keys expected. `None` when the file has no such table.
pub fn table<T: serde::de::DeserializeOwned>(
    src: &str,
    path: &Path,
    name: &str,
) -> Result<Option<T>, FileError> {
    use serde::de::DeserializeSeed;
    let located = |e: toml::de::Error| {
        let e = FileError::from_toml(path, src, &e);
        // serde names the key but not its table: say which.
        FileError {
            message: format!("[{name}]: {}", e.message),
            ..e
        }
    };
    let de = toml::Deserializer::parse(src).map_err(|e| FileError::from_toml(path, src, &e))?;
    Pick::<T> {
        name,
        _t: std::marker::PhantomData,
    }
    .deserialize(de)
    .map_err(located)
}

/// Reads one key of a map as `T`, skipping the others.
struct Pick<'a, T> {
    name: &'a str,
    _t: std::marker::PhantomData<T>,
}

impl<'de, T: serde::de::DeserializeOwned> serde::de::DeserializeSeed<'de> for Pick<'_, T> {
    type Value = Option<T>;

    fn deserialize<D: serde::Deserializer<'de>>(self, de: D) -> Result<Option<T>, D::Error> {
        de.deserialize_map(self)
    }
}

impl<'de, T: serde::de::DeserializeOwned> serde::de::Visitor<'de> for Pick<'_, T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a table with an optional [{}] table", self.name)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Option<T>, A::Error> {
        let mut found = None;
        while let Some(key) = map.next_key::<String>()? {
            if key == self.name {
                found = Some(map.next_value::<T>()?);
            } else {
                map.next_value::<serde::de::IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

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

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct T {
        url: Option<String>,
        ttl: Option<u64>,
    }

    #[test]
    fn a_table_is_read_strictly_with_its_line_and_the_keys_expected() {
        let path = Path::new("/w.toml");
        let src = "theme = \"dark\"\n[other]\nanything = 1\n[t]\nurl = \"x\"\nurll = \"y\"\n";
        let e = table::<T>(src, path, "t").unwrap_err();
        assert_eq!(e.line, Some(6), "{e}");
        assert_eq!(e.key.as_deref(), Some("urll"));
        let text = e.to_string();
        assert!(
            text.starts_with("/w.toml, line 6, key `urll`: [t]: unknown field `urll`"),
            "{text}"
        );
        assert!(text.contains("`url`") && text.contains("`ttl`"), "{text}");
        let e = table::<T>("[t]\nttl = \"soon\"\n", path, "t").unwrap_err();
        assert_eq!((e.line, e.key.as_deref()), (Some(2), Some("ttl")), "{e}");
        assert!(table::<T>("[other]\nx = 1\n", path, "t").unwrap().is_none());
        let t = table::<T>("[t]\nttl = 3\n", path, "t").unwrap().unwrap();
        assert_eq!(t.ttl, Some(3));
    }
}
