//! Writing a wrangler file back: through a temporary file in the same directory and a rename,
//! so that a build script, wrangler or an editor never reads half a file, and with what the
//! rename would otherwise lose kept.
//!
//! - A symbolic link is written through: the link is followed (every hop) and the file it
//!   names is replaced, the temporary file beside it; the link stays a link.
//! - A file with other hard links (`nlink > 1`) is written in place, so every name keeps
//!   seeing the one file: a rename would give this name a new file and leave the others on
//!   the old text. The new text is written to the temporary file first, so that if writing the
//!   file itself fails the text is not lost (the error says where it is); a reader of the file
//!   may see it half written for that moment.
//! - The file's permissions, and on Unix its owner and group where the process may set them,
//!   are given to the new file. A file without write permission (or one this process may not
//!   open for writing) is refused, not replaced.

use crate::diagnostic::Diagnostic;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// How many symbolic links are followed before giving up (Linux's own limit).
const MAX_LINKS: usize = 40;

/// Why a wrangler file was not written.
#[derive(Debug)]
pub(super) enum WriteError {
    /// Following the symbolic link(s) failed.
    Link { err: io::Error },
    /// The file is read-only, or this process may not write it.
    ReadOnly { err: Option<io::Error> },
    /// The path names a directory or another non-file.
    NotAFile,
    /// The temporary file could not be created or written in `dir`.
    Temp {
        tmp: PathBuf,
        dir: PathBuf,
        err: io::Error,
    },
    /// The rename of the temporary file over the file failed.
    Rename { tmp: PathBuf, err: io::Error },
    /// The file (hard-linked) could not be written in place; its new text is in `tmp`.
    InPlace { tmp: PathBuf, err: io::Error },
}

/// A failed write: the file (when `path` is a link, the file it names) and why.
#[derive(Debug)]
pub(super) struct Failed {
    pub(super) target: Option<PathBuf>,
    pub(super) error: WriteError,
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

impl Failed {
    /// The error for people, about the wrangler file at `path`.
    pub(super) fn diagnostic(&self, path: &Path) -> Diagnostic {
        let file = match &self.target {
            Some(t) => format!("`{}` (a link to `{}`)", path.display(), t.display()),
            None => format!("`{}`", path.display()),
        };
        let target = self.target.as_deref().unwrap_or(path);
        let d = match &self.error {
            WriteError::Link { err } => Diagnostic::error(format!(
                "cannot write {file}: cannot follow its symbolic link: {err}"
            )),
            WriteError::ReadOnly { err } => Diagnostic::error(match err {
                None => format!("{file} is read-only: d1kit does not overwrite it"),
                Some(e) => format!(
                    "{file} is not writable by this user ({e}): d1kit does not replace it"
                ),
            })
            .with_help(format!(
                "make `{}` writable to let d1kit update its [[d1_databases]] blocks, or set `package.metadata.d1kit.wrangler = false` in Cargo.toml to keep d1kit away from it",
                file_name(target)
            )),
            WriteError::NotAFile => {
                Diagnostic::error(format!("cannot write {file}: it is not a regular file"))
            }
            WriteError::Temp { tmp, dir, err } => {
                // The directory is at fault, not the wrangler file: no `in_file`.
                return Diagnostic::error(format!(
                    "cannot create the temporary file `{}` in `{}` to update {file}: {err}",
                    file_name(tmp),
                    dir.display()
                ))
                .with_help(format!(
                    "d1kit writes the new text beside `{}` and renames it over the file, so that nothing reads half a file: that directory must be writable",
                    file_name(target)
                ));
            }
            WriteError::Rename { tmp, err } => Diagnostic::error(format!(
                "cannot write {file}: renaming the temporary file `{}` over it failed: {err}",
                tmp.display()
            )),
            WriteError::InPlace { tmp, err } => Diagnostic::error(format!(
                "cannot write {file} in place (it has other hard links, which replacing it would break): {err}; its new text is in `{}`",
                tmp.display()
            )),
        };
        d.in_file(path)
    }
}

/// `path` with every symbolic link of its last component followed (a link in a directory
/// above it needs nothing: the rename happens in the directory it resolves to). A dangling
/// link gives the path it points to, which is then created.
pub(super) fn resolve(path: &Path) -> io::Result<PathBuf> {
    let mut p = path.to_path_buf();
    for _ in 0..MAX_LINKS {
        match fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                let to = fs::read_link(&p)?;
                p = match p.parent() {
                    Some(dir) if to.is_relative() => dir.join(to),
                    _ => to,
                };
            }
            _ => return Ok(p),
        }
    }
    Err(io::Error::other(format!(
        "more than {MAX_LINKS} symbolic links in a row"
    )))
}

/// Writes `text` to the file at `path` (see the module's documentation).
pub(super) fn write(path: &Path, text: &str) -> Result<(), Failed> {
    let target = resolve(path).map_err(|err| Failed {
        target: None,
        error: WriteError::Link { err },
    })?;
    let fail = |error| Failed {
        target: (target != path).then(|| target.clone()),
        error,
    };
    let existing = match fs::metadata(&target) {
        Ok(m) => Some(m),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        // Unreadable metadata: the writes below report what is wrong.
        Err(_) => None,
    };
    if let Some(meta) = &existing {
        if !meta.is_file() {
            return Err(fail(WriteError::NotAFile));
        }
        if meta.permissions().readonly() {
            return Err(fail(WriteError::ReadOnly { err: None }));
        }
        // Whether this process may write it (its owner, its group, root): opening it for
        // writing, without truncating, changes nothing.
        if let Err(e) = OpenOptions::new().write(true).open(&target) {
            if e.kind() == io::ErrorKind::PermissionDenied {
                return Err(fail(WriteError::ReadOnly { err: Some(e) }));
            }
        }
    }
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = target
        .file_name()
        .map_or_else(|| "wrangler".into(), |n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(".{name}.d1kit-{}.tmp", std::process::id()));
    let temp_error = |err| {
        fail(WriteError::Temp {
            tmp: tmp.clone(),
            dir: dir.clone(),
            err,
        })
    };
    let mut file = create_temp(&tmp, existing.is_some()).map_err(temp_error)?;
    let written = file
        .write_all(text.as_bytes())
        .and_then(|()| file.sync_all());
    drop(file);
    if let Err(err) = written {
        let _ = fs::remove_file(&tmp);
        return Err(temp_error(err));
    }
    if let Some(meta) = &existing {
        if let Err(err) = keep_owner_and_mode(&tmp, meta) {
            let _ = fs::remove_file(&tmp);
            return Err(temp_error(err));
        }
        if hard_links(meta) > 1 {
            return write_in_place(&target, text)
                .map(|()| {
                    let _ = fs::remove_file(&tmp);
                })
                .map_err(|err| {
                    fail(WriteError::InPlace {
                        tmp: tmp.clone(),
                        err,
                    })
                });
        }
    }
    fs::rename(&tmp, &target).map_err(|err| {
        let _ = fs::remove_file(&tmp);
        fail(WriteError::Rename {
            tmp: tmp.clone(),
            err,
        })
    })
}

/// The temporary file, new (a stale one of an earlier process with the same id is replaced,
/// never written through), readable by its owner only until it gets the file's permissions.
fn create_temp(tmp: &Path, private: bool) -> io::Result<File> {
    let open = || {
        let mut o = OpenOptions::new();
        o.write(true).create_new(true);
        #[cfg(unix)]
        if private {
            std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
        }
        #[cfg(not(unix))]
        let _ = private;
        o.open(tmp)
    };
    match open() {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            fs::remove_file(tmp)?;
            open()
        }
        other => other,
    }
}

/// The owner and group (Unix, where this process may set them) and the permissions of `meta`
/// given to `tmp`.
fn keep_owner_and_mode(tmp: &Path, meta: &fs::Metadata) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let now = fs::metadata(tmp)?;
        if (now.uid(), now.gid()) != (meta.uid(), meta.gid()) {
            // Only root may give a file away; a group the user is in is allowed. Failing that
            // the new file is the user's, as an editor's save would make it.
            if std::os::unix::fs::chown(tmp, Some(meta.uid()), Some(meta.gid())).is_err() {
                let _ = std::os::unix::fs::chown(tmp, None, Some(meta.gid()));
            }
        }
    }
    // After chown, which may clear set-id bits.
    fs::set_permissions(tmp, meta.permissions())
}

#[cfg(unix)]
fn hard_links(meta: &fs::Metadata) -> u64 {
    std::os::unix::fs::MetadataExt::nlink(meta)
}

#[cfg(windows)]
fn hard_links(_: &fs::Metadata) -> u64 {
    // `number_of_links` is not stable on Windows: a hard-linked wrangler file is replaced
    // there.
    1
}

#[cfg(not(any(unix, windows)))]
fn hard_links(_: &fs::Metadata) -> u64 {
    1
}

fn write_in_place(target: &Path, text: &str) -> io::Result<()> {
    let mut f = OpenOptions::new().write(true).truncate(true).open(target)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}
