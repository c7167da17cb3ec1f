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

/// This instance's stable id, kept in `<data_dir>/instance-id` (created on first start), so that
/// after a crash the restarted instance recognises the events and jobs it held (see
/// [`crate::pipeline::reclaim_own`]).
pub fn instance_id(data_dir: &Path) -> io::Result<String> {
    let path = data_dir.join("instance-id");
    match fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => return Ok(text.trim().to_owned()),
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    private_dir(data_dir)?;
    let id = format!("pond-{}", crate::auth::random_hex(6));
    let mut file = create_private(&path)?;
    io::Write::write_all(&mut file, id.as_bytes())?;
    file.sync_all()?;
    Ok(id)
}
