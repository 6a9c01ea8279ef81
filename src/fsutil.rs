//! Files and folders that only the owner may read: folders 0700, files 0600.

use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// The permission bits of `file` when group or others may access it, `None`
/// when it is its owner's alone: what keys and tokens must be, as ssh insists.
pub fn exposed_mode(file: &fs::File) -> io::Result<Option<u32>> {
    let mode = file.metadata()?.permissions().mode() & 0o7777;
    Ok((mode & 0o077 != 0).then_some(mode))
}

/// How an exposed file is open to others, for messages: "readable" when group
/// or others may read it, else "accessible".
pub fn exposure(mode: u32) -> &'static str {
    if mode & 0o044 != 0 {
        "readable"
    } else {
        "accessible"
    }
}

/// `path` opened for reading without blocking on a FIFO, and its metadata,
/// when it is a regular file; else an error naming what it is.
fn open_regular(path: &Path) -> io::Result<(fs::File, fs::Metadata)> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{}, not a regular file", file_kind(meta.file_type())),
        ));
    }
    Ok((file, meta))
}

/// What a file type is, for messages: "a FIFO", "a symbolic link", ...
pub fn file_kind(t: fs::FileType) -> &'static str {
    if t.is_file() {
        "a regular file"
    } else if t.is_dir() {
        "a folder"
    } else if t.is_symlink() {
        "a symbolic link"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_block_device() || t.is_char_device() {
        "a device"
    } else {
        "a special file"
    }
}

/// Creates `dir` (and its parents) as 0700 when missing. An existing folder
/// must be ours and writable by nobody else (as ssh insists: another user
/// could have planted or swapped files in it); one that others may only
/// read or enter is tightened to 0700.
pub fn private_dir(dir: &Path) -> io::Result<()> {
    if !dir.exists() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    let meta = fs::metadata(dir)?;
    check_owner(dir, &meta)?;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{} is writable by {} (mode {mode:04o}): another user could have placed or \
                 replaced files in it; check its contents, then run chmod 700 {}",
                dir.display(),
                if mode & 0o002 != 0 {
                    "everyone"
                } else {
                    "its group"
                },
                dir.display()
            ),
        ));
    }
    if mode & 0o077 != 0 {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Creates an empty 0600 file when missing; tightens an existing one to 0600.
pub fn private_file(path: &Path) -> io::Result<()> {
    if let Some(parent) = path.parent()
        && !parent.as_os_str().is_empty()
        && !parent.exists()
    {
        private_dir(parent)?;
    }
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)?;
    let meta = fs::metadata(path)?;
    if meta.permissions().mode() & 0o077 != 0 {
        fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

/// Opens `path` for reading and writing (creating it 0600 when `create` and
/// it is missing) without following a symlink, and makes sure it is a
/// regular file owned by the user running us, open to nobody else (an
/// existing file is tightened to 0600). Errors name the path and the fix.
pub fn open_owned(path: &Path, create: bool) -> io::Result<fs::File> {
    if let Some(parent) = path.parent()
        && !parent.as_os_str().is_empty()
        && !parent.exists()
    {
        private_dir(parent)?;
    }
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(create)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| nofollow_error(e, path))?;
    let meta = file.metadata()?;
    if !meta.file_type().is_file() {
        return Err(io::Error::other(format!(
            "{} is not a regular file (remove it, or start with another --data-dir)",
            path.display()
        )));
    }
    check_owner(path, &meta)?;
    if meta.permissions().mode() & 0o077 != 0 {
        file.set_permissions(fs::Permissions::from_mode(0o600))?;
    }
    Ok(file)
}

/// Most bytes of a config or policy file, and of a secret's values.
pub const CONFIG_CAP: u64 = 1 << 20;
/// Most bytes of one scanner report (Trivy's report of a large image is
/// tens of megabytes).
pub const REPORT_CAP: u64 = 512 << 20;
/// Most bytes of one manifest file (50,000 pods in one file is about 50 MB).
pub const MANIFEST_CAP: u64 = 256 << 20;
/// Most bytes read from standard input by `crypto encrypt|decrypt`.
pub const STDIN_CAP: u64 = 64 << 20;

/// The whole of `path`, which must be a regular file of at most `cap` bytes
/// (a FIFO, a device such as `/dev/zero`, or a huge file is refused at once,
/// naming `what` and the cap).
pub fn read_capped(path: &Path, cap: u64, what: &str) -> io::Result<Vec<u8>> {
    let (file, meta) = open_regular(path).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("{}: {e}; {what} must be a regular file", path.display()),
        )
    })?;
    if meta.len() > cap {
        return Err(too_big(&path.display().to_string(), what, cap));
    }
    let mut buf = Vec::with_capacity(meta.len() as usize);
    file.take(cap + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > cap {
        return Err(too_big(&path.display().to_string(), what, cap));
    }
    Ok(buf)
}

/// All of `input` (standard input), refusing more than `cap` bytes.
pub fn read_all_capped(input: impl io::Read, cap: u64, what: &str) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    input.take(cap + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > cap {
        use zeroize::Zeroize;
        buf.zeroize();
        return Err(too_big("standard input", what, cap));
    }
    Ok(buf)
}

fn too_big(source: &str, what: &str, cap: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "{source} is larger than {} MiB, the most {what} may be",
            cap >> 20
        ),
    )
}

/// Takes an exclusive `flock` on `file` without waiting: false when another
/// open file holds it. Released when the file is closed (or the process dies).
pub fn try_flock(file: &fs::File) -> io::Result<bool> {
    try_flock_op(file, libc::LOCK_EX)
}

/// Like [`try_flock`], a shared lock: any number of processes hold it at
/// once, and none while one holds the exclusive lock.
pub fn try_flock_shared(file: &fs::File) -> io::Result<bool> {
    try_flock_op(file, libc::LOCK_SH)
}

fn try_flock_op(file: &fs::File, op: libc::c_int) -> io::Result<bool> {
    use std::os::fd::AsRawFd;
    // SAFETY: flock on a descriptor that `file` owns for the call.
    if unsafe { libc::flock(file.as_raw_fd(), op | libc::LOCK_NB) } == 0 {
        return Ok(true);
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Ok(false)
    } else {
        Err(e)
    }
}

/// An exclusive `flock` on a lock file, held until dropped: serialises
/// processes (and threads, each with its own lock) over shared files.
#[derive(Debug)]
pub struct FileLock {
    _file: fs::File,
}

impl FileLock {
    /// Waits for the lock on `path` (created 0600 when missing).
    pub fn exclusive(path: &Path) -> io::Result<Self> {
        use std::os::fd::AsRawFd;
        let file = open_owned(path, true)?;
        loop {
            // SAFETY: flock on a descriptor that `file` owns.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } == 0 {
                return Ok(Self { _file: file });
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }
}

/// The error of an `O_NOFOLLOW` open of `path`, in words when `path` is a symlink.
pub fn nofollow_error(e: io::Error, path: &Path) -> io::Error {
    if e.raw_os_error() == Some(libc::ELOOP) {
        io::Error::other(format!(
            "{} is a symbolic link; windflow never opens its files through one \
             (replace the link with the file itself)",
            path.display()
        ))
    } else {
        e
    }
}

/// Whether a failed write failed because the disk (or the user's quota) is full.
pub fn is_disk_full(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT))
}

/// Refuses a file or folder that another user owns, as ssh does.
pub fn check_owner(path: &Path, meta: &fs::Metadata) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{} is owned by uid {}, not by the user running windflow (uid {me}): \
                 refusing it (chown it, or run as its owner)",
                path.display(),
                meta.uid()
            ),
        ));
    }
    Ok(())
}

/// Writes a whole file atomically (temp file + rename), 0600.
pub fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    private_dir(dir)?;
    let mut tmp = tempfile::Builder::new()
        .permissions(fs::Permissions::from_mode(0o600))
        .tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Writes a whole file atomically (temp file in the same folder, synced,
/// renamed over `path`) with permission bits `mode`. A symbolic link at
/// `path` is replaced, never followed.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .permissions(fs::Permissions::from_mode(mode))
        .tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
