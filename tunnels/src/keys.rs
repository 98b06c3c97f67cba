//! WireGuard key files: load the node's private key, or create it on first start.
//!
//! The file holds one base64 key and a newline, as written by `wg genkey`. A private key that
//! others can read is refused rather than silently used: anybody holding it can impersonate
//! the node to every peer.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use wireguard_control::Key;

/// Errors from loading, creating or parsing keys.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("private key {path}: directory {dir} does not exist")]
    MissingDirectory { path: PathBuf, dir: PathBuf },

    #[error(
        "private key {path} is readable by group or others (mode {mode:04o}); run chmod 600 {path}"
    )]
    InsecurePermissions { path: PathBuf, mode: u32 },

    #[error("private key {path}: {operation}: {source}")]
    Io {
        path: PathBuf,
        operation: &'static str,
        #[source]
        source: io::Error,
    },

    #[error("private key {path}: not a base64 WireGuard key (32 bytes)")]
    BadPrivateKey { path: PathBuf },

    #[error("public key {text:?}: not a base64 WireGuard key (32 bytes)")]
    BadPublicKey { text: String },
}

/// Reads a base64 private key file; if the file is missing, generates a key and writes it with
/// mode 0600 (created exclusively, so a concurrent writer cannot be overwritten).
pub fn load_or_generate(path: &Path) -> Result<Key, KeyError> {
    let io_err = |operation| {
        move |source| KeyError::Io {
            path: path.to_path_buf(),
            operation,
            source,
        }
    };
    match fs::metadata(path) {
        Ok(meta) => {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(KeyError::InsecurePermissions {
                    path: path.to_path_buf(),
                    mode,
                });
            }
            let text = fs::read_to_string(path).map_err(io_err("read"))?;
            Key::from_base64(text.trim()).map_err(|_| KeyError::BadPrivateKey {
                path: path.to_path_buf(),
            })
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let dir = match path.parent() {
                Some(d) if d.as_os_str().is_empty() => Path::new("."),
                Some(d) => d,
                None => Path::new("/"),
            };
            if !dir.is_dir() {
                return Err(KeyError::MissingDirectory {
                    path: path.to_path_buf(),
                    dir: dir.to_path_buf(),
                });
            }
            let key = Key::generate_private();
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(io_err("create"))?;
            // The umask can only clear bits, but say 0600 explicitly anyway.
            file.set_permissions(fs::Permissions::from_mode(0o600))
                .map_err(io_err("chmod"))?;
            writeln!(file, "{}", key.to_base64()).map_err(io_err("write"))?;
            file.sync_all().map_err(io_err("fsync"))?;
            tracing::info!(path = %path.display(), public_key = %key.get_public().to_base64(),
                "generated new WireGuard private key");
            Ok(key)
        }
        Err(e) => Err(io_err("stat")(e)),
    }
}

/// Parses a peer's base64 public key (surrounding whitespace ignored).
pub fn parse_public(s: &str) -> Result<Key, KeyError> {
    Key::from_base64(s.trim()).map_err(|_| KeyError::BadPublicKey {
        text: s.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);
    impl TempDir {
        fn new() -> Self {
            static N: AtomicU32 = AtomicU32::new(0);
            let p = std::env::temp_dir().join(format!(
                "tunnels-keys-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            fs::create_dir_all(&p).unwrap();
            TempDir(p)
        }
    }
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn generates_with_mode_0600_then_loads_the_same_key() {
        let dir = TempDir::new();
        let path = dir.0.join("private.key");
        let k1 = load_or_generate(&path).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(text, format!("{}\n", k1.to_base64()));
        let k2 = load_or_generate(&path).unwrap();
        assert_eq!(k1, k2);
    }

    #[test]
    fn refuses_group_or_world_readable_file() {
        let dir = TempDir::new();
        let path = dir.0.join("private.key");
        fs::write(&path, format!("{}\n", Key::generate_private().to_base64())).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let err = load_or_generate(&path).unwrap_err();
        assert!(matches!(
            err,
            KeyError::InsecurePermissions { mode: 0o644, .. }
        ));
        assert!(err.to_string().contains(&path.display().to_string()));
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        assert!(load_or_generate(&path).is_err());
    }

    #[test]
    fn missing_directory_error_names_the_path() {
        let dir = TempDir::new();
        let path = dir.0.join("nope").join("private.key");
        let err = load_or_generate(&path).unwrap_err();
        assert!(matches!(err, KeyError::MissingDirectory { .. }));
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
        assert!(!path.exists());
    }

    #[test]
    fn bad_base64_is_an_error_naming_the_file() {
        let dir = TempDir::new();
        let path = dir.0.join("private.key");
        fs::write(&path, "not a key\n").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        let err = load_or_generate(&path).unwrap_err();
        assert!(matches!(err, KeyError::BadPrivateKey { .. }));
        assert!(err.to_string().contains(&path.display().to_string()));
        // Valid base64 of the wrong length is still not a key.
        fs::write(&path, "AAAA\n").unwrap();
        assert!(matches!(
            load_or_generate(&path),
            Err(KeyError::BadPrivateKey { .. })
        ));
    }

    #[test]
    fn parse_public_round_trips_and_rejects_garbage() {
        let k = Key::generate_private().get_public();
        assert_eq!(parse_public(&format!(" {}\n", k.to_base64())).unwrap(), k);
        let err = parse_public("zzz").unwrap_err();
        assert!(matches!(err, KeyError::BadPublicKey { .. }));
        assert!(err.to_string().contains("\"zzz\""));
        assert!(parse_public("").is_err());
    }
}
