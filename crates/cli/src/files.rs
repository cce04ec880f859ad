//! Reading and writing the command's files safely: secrets are created `0600` with
//! `create_new` (never overwriting, never briefly world-readable), secret files that others
//! can read are refused, and public files are replaced atomically.

use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::cli_error::CliError;

/// Creates `path` with mode 0600 and writes `contents`; fails if it exists.
pub(crate) fn write_secret(path: &Path, contents: &str) -> Result<(), CliError> {
    write_new(path, contents, 0o600)
}

/// Creates `path` with mode 0644; fails if it exists.
pub(crate) fn write_public_new(path: &Path, contents: &str) -> Result<(), CliError> {
    write_new(path, contents, 0o644)
}

fn write_new(path: &Path, contents: &str, mode: u32) -> Result<(), CliError> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options
        .open(path)
        .map_err(|e| CliError::io(path, "creating", e))?;
    file.write_all(contents.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| CliError::io(path, "writing", e))
}

/// Replaces a public file atomically (temporary file + rename), mode 0644.
pub(crate) fn replace_public(path: &Path, contents: &str) -> Result<(), CliError> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = PathBuf::from(temporary);
    let _ = std::fs::remove_file(&temporary);
    write_new(&temporary, contents, 0o644)?;
    std::fs::rename(&temporary, path).map_err(|e| CliError::io(path, "replacing", e))
}

/// Reads a text file.
pub(crate) fn read_text(path: &Path) -> Result<String, CliError> {
    std::fs::read_to_string(path).map_err(|e| CliError::io(path, "reading", e))
}

/// Reads a secret key file, refusing one that group or others may read.
pub(crate) fn read_secret(path: &Path) -> Result<String, CliError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(path)
            .map_err(|e| CliError::io(path, "reading", e))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(CliError::BadPermissions {
                path: path.to_owned(),
                mode: mode & 0o777,
            });
        }
    }
    read_text(path)
}

/// `path` with its extension replaced (or added).
pub(crate) fn sibling(path: &Path, extension: &str) -> PathBuf {
    match path.extension() {
        Some(ext) if ext == "key" => path.with_extension(extension),
        _ => {
            let mut name = path.as_os_str().to_owned();
            name.push(".");
            name.push(extension);
            PathBuf::from(name)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sibling_names() {
        assert_eq!(
            sibling(Path::new("a/root.key"), "pub"),
            PathBuf::from("a/root.pub")
        );
        assert_eq!(
            sibling(Path::new("a/root"), "pub"),
            PathBuf::from("a/root.pub")
        );
        assert_eq!(
            sibling(Path::new("x.secret"), "pub"),
            PathBuf::from("x.secret.pub")
        );
    }
}
