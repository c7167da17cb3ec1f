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
