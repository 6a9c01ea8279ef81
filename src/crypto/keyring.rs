//! The keyring: every master key we can decrypt with, the newest one encrypting.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use super::envelope::{Envelope, check_context, seal_random};
use super::{CryptoError, KeyError, MasterKey, Plaintext};

/// Environment variable holding master keys: standard base64, comma-separated, newest last.
pub const MASTER_KEY_ENV: &str = "WINDFLOW_MASTER_KEY";
/// Usual name of the key file in the data dir.
pub const KEY_FILE_NAME: &str = "master.key";

/// Where master keys come from.
#[derive(Clone)]
pub enum KeySource {
    /// The value of `WINDFLOW_MASTER_KEY`: standard base64 of 32 bytes, or several
    /// such keys separated by commas, newest last.
    Env(String),
    /// A key file (one standard-base64 key per line, newest last) that must exist.
    File(PathBuf),
    /// A key file created with one fresh key (mode 0600, folder 0700) when missing.
    FileOrCreate(PathBuf),
}

impl KeySource {
    /// `WINDFLOW_MASTER_KEY` when set (set but blank is an error when
    /// loaded, never a silent fall-back to the file), else the key file.
    pub fn from_env_or_file(key_file: &Path, create: bool) -> Self {
        match std::env::var(MASTER_KEY_ENV) {
            Ok(value) => Self::Env(value),
            _ if create => Self::FileOrCreate(key_file.to_owned()),
            _ => Self::File(key_file.to_owned()),
        }
    }
}

impl fmt::Debug for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Env(_) => f.write_str("Env(<redacted>)"),
            Self::File(path) => f.debug_tuple("File").field(path).finish(),
            Self::FileOrCreate(path) => f.debug_tuple("FileOrCreate").field(path).finish(),
        }
    }
}

/// One or more master keys; the newest is the primary, used to encrypt.
/// Decryption picks the key named by the envelope's kid.
#[derive(Clone)]
pub struct Keyring {
    /// Older keys, oldest first.
    older: Vec<MasterKey>,
    primary: MasterKey,
}

impl Keyring {
    /// A keyring of one key.
    pub fn new(primary: MasterKey) -> Self {
        Self {
            older: Vec::new(),
            primary,
        }
    }

    /// A keyring of `keys`, oldest first (the last becomes primary); `None` if empty.
    pub fn from_keys(keys: impl IntoIterator<Item = MasterKey>) -> Option<Self> {
        let mut keys = keys.into_iter();
        let mut ring = Self::new(keys.next()?);
        keys.for_each(|key| ring.push(key));
        Some(ring)
    }

    /// Loads the keys of `source`, creating the key file if asked to.
    pub fn load(source: &KeySource) -> Result<Self, KeyError> {
        match source {
            KeySource::Env(value) if value.trim().is_empty() => Err(KeyError::Empty {
                origin: format!(
                    "{MASTER_KEY_ENV}, which is set but empty (unset it to use the key file, \
                     or give the key)"
                ),
            }),
            KeySource::Env(value) => parse_keys(value.split(','), MASTER_KEY_ENV, |n| {
                format!("{MASTER_KEY_ENV} (entry {n})")
            }),
            KeySource::File(path) => read_key_file(path),
            KeySource::FileOrCreate(path) => match read_key_file(path) {
                Err(KeyError::Missing { .. }) => create_key_file(path),
                loaded => loaded,
            },
        }
    }

    /// `WINDFLOW_MASTER_KEY` when set, else `key_file` (created when missing if `create`).
    pub fn from_env_or_file(key_file: &Path, create: bool) -> Result<Self, KeyError> {
        Self::load(&KeySource::from_env_or_file(key_file, create))
    }

    /// Generates a key, appends it to `key_file` (creating it if needed) and makes it
    /// primary. Returns its kid. The env var, when set, still wins over the file on load.
    pub fn add_key(&mut self, key_file: &Path) -> Result<String, KeyError> {
        let key = MasterKey::generate();
        append_key(key_file, &key, false)?;
        let kid = key.kid();
        self.push(key);
        Ok(kid)
    }

    /// Adds `key` as the new primary (a key already present moves to primary).
    pub fn push(&mut self, key: MasterKey) {
        if key.kid_str() == self.primary.kid_str() {
            return;
        }
        self.older.retain(|old| old.kid_str() != key.kid_str());
        self.older.push(std::mem::replace(&mut self.primary, key));
    }

    /// The key used to encrypt.
    pub fn primary(&self) -> &MasterKey {
        &self.primary
    }

    /// Kid of the primary key.
    /// A 32-byte key derived from the primary master key for `context`
    /// (HKDF-SHA256, as envelope keys, with an empty salt): stable while
    /// the primary key is.
    pub fn derive(&self, context: &str) -> zeroize::Zeroizing<[u8; 32]> {
        super::envelope::derive_key(self.primary().expose_bytes(), &[], context)
    }

    pub fn primary_kid(&self) -> String {
        self.primary.kid()
    }

    /// All kids, oldest first, primary last.
    pub fn kids(&self) -> Vec<String> {
        self.older
            .iter()
            .chain([&self.primary])
            .map(MasterKey::kid)
            .collect()
    }

    /// The key with this kid, if loaded.
    pub fn get(&self, kid: &str) -> Option<&MasterKey> {
        std::iter::once(&self.primary)
            .chain(self.older.iter().rev())
            .find(|key| key.kid_str() == kid)
    }

    /// Seals `plaintext` for `context` under the primary key, with fresh salt and nonce.
    pub fn encrypt(&self, context: &str, plaintext: &[u8]) -> Result<String, CryptoError> {
        let primary = &self.primary;
        seal_random(
            primary.expose_bytes(),
            primary.kid_str(),
            context,
            plaintext,
        )
    }

    /// Opens an envelope with the key its kid names.
    pub fn decrypt(&self, context: &str, envelope: &str) -> Result<Plaintext, CryptoError> {
        check_context(context)?;
        let envelope = Envelope::parse(envelope)?;
        let key = self
            .get(&envelope.kid)
            .ok_or_else(|| CryptoError::UnknownKey {
                kid: envelope.kid.clone(),
            })?;
        envelope.open(key.expose_bytes(), context)
    }

    /// True unless `envelope` is well formed and sealed under the primary key
    /// (so malformed data goes to [`Keyring::rewrap`], which reports it).
    pub fn needs_rewrap(&self, envelope: &str) -> bool {
        !matches!(Envelope::parse(envelope), Ok(e) if e.kid == self.primary.kid_str())
    }

    /// Decrypts with whichever key sealed it and re-encrypts under the primary.
    pub fn rewrap(&self, context: &str, envelope: &str) -> Result<String, CryptoError> {
        let plaintext = self.decrypt(context, envelope)?;
        self.encrypt(context, &plaintext)
    }
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("primary", &self.primary.kid_str())
            .field("kids", &self.kids())
            .finish()
    }
}

fn parse_keys<'a>(
    entries: impl Iterator<Item = &'a str>,
    source: &str,
    origin: impl Fn(usize) -> String,
) -> Result<Keyring, KeyError> {
    let mut keys = Vec::new();
    for (index, entry) in entries.enumerate() {
        let entry = entry.trim();
        if !entry.is_empty() && !entry.starts_with('#') {
            keys.push(MasterKey::parse(entry, &origin(index + 1))?);
        }
    }
    Keyring::from_keys(keys).ok_or_else(|| KeyError::Empty {
        origin: source.to_owned(),
    })
}

fn read_key_file(path: &Path) -> Result<Keyring, KeyError> {
    use std::os::unix::fs::OpenOptionsExt;
    let opened = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path);
    let mut file = match opened {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(KeyError::Missing {
                path: path.to_owned(),
            });
        }
        opened => opened.map_err(io_error("read", path))?,
    };
    check_permissions(&file, path)?;
    let size = file.metadata().map_or(0, |m| m.len());
    let mut text = Zeroizing::new(String::with_capacity(
        usize::try_from(size).unwrap_or(0) + 1,
    ));
    file.read_to_string(&mut text)
        .map_err(io_error("read", path))?;
    let shown = path.display().to_string();
    parse_keys(text.lines(), &shown, |n| format!("line {n} of {shown}"))
}

/// Creates the key file with one fresh key, whole or not at all: the key is
/// written to a temporary file beside it, which is then linked into place
/// (another process that got there first wins, and its key is used). Never
/// in a data dir whose audit log already holds records: those were sealed
/// under a key that is not loaded, and a new one would hide that.
fn create_key_file(path: &Path) -> Result<Keyring, KeyError> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if let Some(log) = crate::audit::local::history(dir) {
        return Err(KeyError::MissingWithHistory {
            path: path.to_owned(),
            history: log,
        });
    }
    make_private_dir(dir).map_err(io_error("create the folder of", path))?;
    let key = MasterKey::generate();
    let mut tmp = tempfile::Builder::new()
        .prefix(".master.key.")
        .permissions(std::fs::Permissions::from_mode(0o600))
        .tempfile_in(dir)
        .map_err(io_error("create", path))?;
    let mut line = key.to_base64();
    line.push('\n');
    tmp.write_all(line.as_bytes())
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(io_error("create", path))?;
    match std::fs::hard_link(tmp.path(), path) {
        Ok(()) => Ok(Keyring::new(key)),
        // Another process created it first: use theirs (complete: it was linked whole).
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => read_key_file(path),
        Err(e) => Err(io_error("create", path)(e)),
    }
}

/// Appends `key` as a new line; the file is created with mode 0600 and missing
/// folders with 0700. An existing file open to group/others is refused.
fn append_key(path: &Path, key: &MasterKey, create_new: bool) -> Result<(), KeyError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        make_private_dir(dir).map_err(io_error("create the folder of", path))?;
    }
    let mut options = OpenOptions::new();
    options.read(true).append(true);
    if create_new {
        options.create_new(true);
    } else {
        options.create(true);
    }
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let action = if create_new { "create" } else { "append to" };
    let mut file = options.open(path).map_err(io_error(action, path))?;
    check_permissions(&file, path)?;

    let mut line = Zeroizing::new(String::new());
    if !ends_with_newline(&mut file).map_err(io_error("read", path))? {
        line.push('\n');
    }
    line.push_str(&key.to_base64());
    line.push('\n');
    file.write_all(line.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(io_error(action, path))
}

/// Removes the key `kid` from the key file, whole or not at all: the other
/// lines are written to a temporary file (mode 0600) beside it, synced and
/// renamed over it. The primary (last) key and an absent kid are refused:
/// nothing is written then. The caller checks that nothing uses the key.
pub fn retire_key(path: &Path, kid: &str) -> Result<(), KeyError> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(io_error("read", path))?;
    check_permissions(&file, path)?;
    let mut text = Zeroizing::new(String::new());
    file.read_to_string(&mut text)
        .map_err(io_error("read", path))?;
    let shown = path.display().to_string();
    let ring = parse_keys(text.lines(), &shown, |n| format!("line {n} of {shown}"))?;
    if ring.primary_kid() == kid {
        return Err(KeyError::Retire {
            kid: kid.to_owned(),
            why: "it is the primary key (the newest, which encrypts): add a new key first \
                  (`windflow crypto add-key`) and rewrap"
                .into(),
        });
    }
    let mut kept = Zeroizing::new(String::with_capacity(text.len()));
    let mut found = false;
    for line in text.lines() {
        let entry = line.trim();
        let this = !entry.is_empty()
            && !entry.starts_with('#')
            && MasterKey::from_base64(entry).is_ok_and(|k| k.kid_str() == kid);
        if this {
            found = true;
        } else {
            kept.push_str(line);
            kept.push('\n');
        }
    }
    if !found {
        return Err(KeyError::Retire {
            kid: kid.to_owned(),
            why: format!("{shown} holds no key with this id"),
        });
    }
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".master.key.")
        .permissions(std::fs::Permissions::from_mode(0o600))
        .tempfile_in(dir)
        .map_err(io_error("rewrite", path))?;
    tmp.write_all(kept.as_bytes())
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(io_error("rewrite", path))?;
    tmp.persist(path)
        .map_err(|e| io_error("rewrite", path)(e.error))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error("rewrite", path))
}

/// True for an empty file or one whose last byte is a newline.
fn ends_with_newline(file: &mut File) -> io::Result<bool> {
    if file.metadata()?.len() == 0 {
        return Ok(true);
    }
    let mut last = [0u8; 1];
    file.seek(SeekFrom::End(-1))?;
    file.read_exact(&mut last)?;
    Ok(last[0] == b'\n')
}

fn make_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

fn check_permissions(file: &File, path: &Path) -> Result<(), KeyError> {
    let meta = file.metadata().map_err(io_error("read", path))?;
    crate::fsutil::check_owner(path, &meta).map_err(io_error("use", path))?;
    match crate::fsutil::exposed_mode(file).map_err(io_error("read", path))? {
        Some(mode) => Err(KeyError::InsecurePermissions {
            path: path.to_owned(),
            mode,
        }),
        None => Ok(()),
    }
}

fn io_error(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> KeyError {
    move |source| KeyError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retiring_a_key_rewrites_the_file_without_it_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(KEY_FILE_NAME);
        let (old, mid, new) = (
            MasterKey::generate(),
            MasterKey::generate(),
            MasterKey::generate(),
        );
        let text = format!(
            "# keys of prod\n{}\n{}\n{}\n",
            old.to_base64().as_str(),
            mid.to_base64().as_str(),
            new.to_base64().as_str()
        );
        std::fs::write(&path, &text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();

        for refused in [new.kid(), "0badc0de".to_owned()] {
            assert!(matches!(
                retire_key(&path, &refused),
                Err(KeyError::Retire { .. })
            ));
        }
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);

        retire_key(&path, &mid.kid()).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!(
                "# keys of prod\n{}\n{}\n",
                old.to_base64().as_str(),
                new.to_base64().as_str()
            )
        );
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        let ring = read_key_file(&path).unwrap();
        assert_eq!(ring.kids(), vec![old.kid(), new.kid()]);
        // No temporary file is left beside it.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
