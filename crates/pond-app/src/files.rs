//! Pond's own files (the SQLite database and its journals, the key file) are private to the user
//! running Pond: folders 0700, files 0600 (on Unix; elsewhere the platform's defaults apply).

use std::{fs, io, path::Path};

/// Creates `dir` (and its parents) if missing, and makes it 0700.
pub fn private_dir(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Creates (or truncates) `path` with mode 0600 and opens it for writing.
pub fn create_private(path: &Path) -> io::Result<fs::File> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let file = options.open(path)?;
    make_private(path)?;
    Ok(file)
}

/// Makes an existing file 0600 (SQLite gives its `-wal` and `-shm` files the database's mode).
pub fn make_private(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

/// Before SQLite opens `sqlite:PATH`: the folder private, and the database file created empty with
/// mode 0600 if missing (SQLite would create it 0644), its existing files made 0600.
pub fn prepare_sqlite(database_url: &str) -> io::Result<()> {
    let Some(path) = database_url.strip_prefix("sqlite:") else { return Ok(()) };
    let path = path.split('?').next().unwrap_or(path).trim_start_matches("//");
    if path.is_empty() || path == ":memory:" {
        return Ok(());
    }
    let path = Path::new(path);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        private_dir(dir)?;
    }
    if !path.exists() {
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        options.open(path)?;
    }
    for suffix in ["", "-wal", "-shm"] {
        let file = format!("{}{suffix}", path.display());
        if Path::new(&file).exists() {
            make_private(Path::new(&file))?;
        }
    }
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).map(|m| m.permissions().mode() & 0o777).unwrap_or(0)
    }

    #[tokio::test]
    async fn the_database_and_its_journals_are_private() {
        let dir =
            std::env::temp_dir().join(format!("pond-files-{}-{}", std::process::id(), crate::auth::random_hex(4)));
        let data = dir.join("data");
        let url = format!("sqlite:{}", data.join("pond.db").display());
        prepare_sqlite(&url).unwrap();
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&data.join("pond.db")), 0o600);
        let db = pond_store::Db::open(&url).await.unwrap();
        pond_store::corp::create(&db, "x").await.unwrap();
        for file in ["pond.db", "pond.db-wal", "pond.db-shm"] {
            let path = data.join(file);
            assert!(path.exists(), "{file}");
            assert_eq!(mode(&path), 0o600, "{file} is readable only by its owner");
        }
        let key = data.join("secret.key");
        crate::secrets::write_key_file(&key, &[crate::secrets::new_key()]).unwrap();
        assert_eq!(mode(&key), 0o600);
        db.close().await;
        let _ = fs::remove_dir_all(dir);
    }
}
