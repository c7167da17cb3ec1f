//! The simulator's state on disk, so that a simulator can stop and start again with the same
//! world: a [`SavedWorld`] is the world itself (address book, customers and follow relations,
//! tags, groups, contact ways, welcome codes and sent welcomes, the clock's offset, …), the random
//! generator at its position and the traffic generator's step (so traffic continues rather than
//! repeats), the access tokens issued, uploaded images and the callbacks not yet acknowledged.
//!
//! The file is JSON with a format name and a version ([`FORMAT`], [`VERSION`]); [`load`] refuses a
//! file of another version or one that does not parse, saying which, rather than guess. It is
//! written atomically (a temporary file, fsync, rename, fsync of the folder) with mode 0600 — it
//! holds the corp's secrets — by [`Simulator::save`], and kept current in the background by
//! [`Autosave`], which writes only when something changed.

use std::{
    collections::BTreeMap,
    fs,
    io::{self, Write},
    path::{Path, PathBuf},
    sync::atomic::Ordering,
    time::Duration,
};

use base64::{Engine, engine::general_purpose::STANDARD as B64};
use rand_chacha::ChaCha12Rng;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::{SimConfig, Simulator, cgi::TokenInfo, world::World};

/// The `format` of a saved world.
pub const FORMAT: &str = "wecom-sim world";
/// The version this simulator writes and reads. Raise it whenever [`SavedWorld`] or anything in
/// it changes shape.
pub const VERSION: u32 = 1;

/// Everything a simulator needs to carry on where it stopped.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedWorld {
    pub format: String,
    pub version: u32,
    pub world: World,
    /// The generator behind new ids, codes and names, at its position.
    pub rng: ChaCha12Rng,
    /// Steps the traffic generator has taken ([`Simulator::next_traffic`] continues from here).
    pub traffic_steps: u64,
    /// Access tokens issued, by token.
    pub tokens: BTreeMap<String, TokenInfo>,
    /// Images uploaded with `media/uploadimg`: file name → base64 of the bytes.
    pub media: BTreeMap<String, String>,
    /// Callback XML not yet acknowledged (queued or in flight), in order; delivered again after a
    /// restart (at least once, as WeCom does).
    pub pending_callbacks: Vec<String>,
}

/// Why a saved world cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{} cannot be read: {source}", path.display())]
    Unreadable { path: PathBuf, source: io::Error },
    #[error("{} is not a saved simulator world (no \"format\": \"{FORMAT}\"; damaged, or another file)", path.display())]
    NotAWorld { path: PathBuf },
    #[error(
        "{} was saved in format version {found}; this simulator reads version {VERSION} only",
        path.display()
    )]
    Incompatible { path: PathBuf, found: u32 },
    #[error("{} is damaged: {source}", path.display())]
    Damaged { path: PathBuf, source: serde_json::Error },
    #[error("{}: uploaded image {name:?} is not valid base64", path.display())]
    BadMedia { path: PathBuf, name: String },
}

/// Reads the world saved at `path`: `Ok(None)` when there is no file; an error, saying why, when
/// there is one that cannot be used.
pub fn load(path: &Path) -> Result<Option<SavedWorld>, LoadError> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(LoadError::Unreadable { path: path.to_owned(), source }),
    };
    #[derive(Deserialize)]
    struct Header {
        format: Option<String>,
        version: Option<u32>,
    }
    let header: Header = serde_json::from_slice(&bytes).map_err(|_| LoadError::NotAWorld { path: path.to_owned() })?;
    match (header.format.as_deref(), header.version) {
        (Some(FORMAT), Some(VERSION)) => {}
        (Some(FORMAT), Some(found)) => return Err(LoadError::Incompatible { path: path.to_owned(), found }),
        _ => return Err(LoadError::NotAWorld { path: path.to_owned() }),
    }
    let saved: SavedWorld =
        serde_json::from_slice(&bytes).map_err(|source| LoadError::Damaged { path: path.to_owned(), source })?;
    if let Some(name) = saved.media.iter().find(|(_, b)| B64.decode(b).is_err()).map(|(n, _)| n.clone()) {
        return Err(LoadError::BadMedia { path: path.to_owned(), name });
    }
    Ok(Some(saved))
}

/// Writes `bytes` to `path` so that `path` holds either its old content or all of the new, even
/// after a crash or power loss: a temporary file beside it (mode 0600), fsync, rename, fsync of
/// the folder.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut tmp_name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    {
        let mut options = fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    #[cfg(unix)]
    {
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

impl Simulator {
    /// The simulator's state now, consistent: a world action and the callbacks it queued are
    /// either both in it or both not.
    pub fn snapshot(&self) -> SavedWorld {
        let state = &self.state;
        let (world, rng, pending_callbacks) = {
            // The same order as `Simulator::act`: world, then generator, then the pusher.
            let world = state.world();
            let rng = state.rng();
            (world.clone(), rng.clone(), state.pusher.pending())
        };
        let tokens = state.tokens.lock().unwrap_or_else(|e| e.into_inner()).clone().into_iter().collect();
        let media = state
            .media
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(name, bytes)| (name.clone(), B64.encode(bytes)))
            .collect();
        SavedWorld {
            format: FORMAT.to_owned(),
            version: VERSION,
            world,
            rng,
            traffic_steps: state.traffic_steps.load(Ordering::SeqCst),
            tokens,
            media,
            pending_callbacks,
        }
    }

    /// A simulator that carries on from `saved`: its world (with the credentials it was made
    /// with), generator, traffic position, tokens and images; the pending callbacks are queued
    /// again. `config` gives the rest (callback URL, rate limit); its scenario and credentials
    /// are not used. Must be called inside a Tokio runtime.
    pub fn restore(config: SimConfig, saved: SavedWorld) -> Result<Simulator, wecom::CryptoError> {
        let media = saved.media.into_iter().filter_map(|(name, b)| Some((name, B64.decode(b).ok()?))).collect();
        let sim = Simulator::assemble(config, saved.world, saved.rng, saved.traffic_steps)?;
        *sim.state.tokens.lock().unwrap_or_else(|e| e.into_inner()) = saved.tokens.into_iter().collect();
        *sim.state.media.lock().unwrap_or_else(|e| e.into_inner()) = media;
        for xml in saved.pending_callbacks {
            sim.state.pusher.push(xml);
        }
        Ok(sim)
    }

    /// A counter that moves whenever something that is saved may have changed.
    pub fn changes(&self) -> u64 {
        self.state.changes.load(Ordering::SeqCst).wrapping_add(self.state.pusher.changes())
    }

    /// Saves the state now to `path` (atomically). Blocking file I/O: from async code, prefer
    /// [`Autosave`] or `spawn_blocking`.
    pub fn save(&self, path: &Path) -> io::Result<()> {
        // Held from the snapshot on, so that saves land in the order they were taken.
        let _one_writer = self.state.save_lock.lock().unwrap_or_else(|e| e.into_inner());
        let bytes = serde_json::to_vec(&self.snapshot()).map_err(io::Error::other)?;
        write_atomically(path, &bytes)
    }
}

/// Keeps a simulator's saved world current: every `every`, if anything changed, a snapshot is
/// taken (a clone under the locks) and serialized and written on a blocking thread, off the
/// request path. [`Autosave::stop`] ends it with a final save.
pub struct Autosave {
    sim: Simulator,
    path: PathBuf,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Autosave {
    pub fn start(sim: &Simulator, path: PathBuf, every: Duration) -> Autosave {
        let (stop, mut stopped) = watch::channel(false);
        let (s, p) = (sim.clone(), path.clone());
        let task = tokio::spawn(async move {
            let mut saved_at = s.changes();
            let mut last_error: Option<String> = None;
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = stopped.changed() => return,
                }
                let now = s.changes();
                if now == saved_at {
                    continue;
                }
                let (s2, p2) = (s.clone(), p.clone());
                let result = tokio::task::spawn_blocking(move || s2.save(&p2)).await;
                match result {
                    Ok(Ok(())) => {
                        saved_at = now;
                        if last_error.take().is_some() {
                            tracing::info!(path = %p.display(), "simulator world saved again");
                        }
                    }
                    Ok(Err(e)) => {
                        let e = e.to_string();
                        if last_error.as_ref() != Some(&e) {
                            tracing::error!(path = %p.display(), error = %e, "could not save the simulator's world");
                        }
                        last_error = Some(e);
                    }
                    Err(e) => tracing::error!(error = %e, "the simulator's saver stopped"),
                }
            }
        });
        Autosave { sim: sim.clone(), path, stop, task }
    }

    /// Stops saving in the background and saves once more, now.
    pub async fn stop(self) -> io::Result<()> {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        let (sim, path) = (self.sim, self.path);
        tokio::task::spawn_blocking(move || sim.save(&path)).await.map_err(io::Error::other)?
    }
}
