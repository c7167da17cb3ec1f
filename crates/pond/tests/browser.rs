//! Browser journeys through the console and the customer-facing phone pages: `browser/run.mjs`
//! (Playwright's `playwright-core`, driving the system Chromium; nothing is downloaded) starts
//! `pond demo` from this build on a free port and clicks through it. See the header of
//! `browser/run.mjs` for the journeys and how to run them by hand.
//!
//! Needs `node` (20+), Chromium (env `CHROMIUM`, else /usr/bin/chromium) and
//! `browser/node_modules/playwright-core` (`npm ci` in `browser/`, which `.ci/run` does). Without
//! them the test reports itself skipped; under `CI` that is a failure. Screenshots of failed
//! journeys and pond's log land in target/browser-failures/.

use std::{
    env,
    io::{BufRead, BufReader, Read, Write},
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    sync::{Arc, Mutex},
    thread,
    time::{Duration, Instant},
};

/// The whole run usually takes well under a minute; this only guards against a hang.
const TIMEOUT: Duration = Duration::from_secs(5 * 60);

fn repo() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

struct Tools {
    node: PathBuf,
    chromium: PathBuf,
}

fn on_path(name: &str) -> Option<PathBuf> {
    let paths = env::var_os("PATH")?;
    env::split_paths(&paths).map(|dir| dir.join(name)).find(|p| p.is_file())
}

/// Node, Chromium and playwright-core, or why one of them is missing.
fn tools() -> Result<Tools, String> {
    let node = on_path("node").ok_or_else(|| "`node` (20 or later) is not on PATH".to_owned())?;
    let version = Command::new(&node)
        .arg("--version")
        .output()
        .map_err(|e| format!("`{} --version` failed: {e}", node.display()))?;
    let version = String::from_utf8_lossy(&version.stdout).trim().to_owned();
    let major: u32 = version.trim_start_matches('v').split('.').next().and_then(|m| m.parse().ok()).unwrap_or(0);
    if major < 20 {
        return Err(format!("{} is node {version:?}; playwright-core needs 20 or later", node.display()));
    }
    let chromium = env::var_os("CHROMIUM").map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    if !chromium.is_file() {
        return Err(format!(
            "no Chromium at {} (Debian: apt-get install chromium; or set CHROMIUM to its path)",
            chromium.display()
        ));
    }
    let playwright = repo().join("browser/node_modules/playwright-core/package.json");
    if !playwright.is_file() {
        return Err(format!("{} is missing: run `npm ci` in browser/", playwright.display()));
    }
    Ok(Tools { node, chromium })
}

/// The `FAIL …` lines seen so far.
type Fails = Arc<Mutex<Vec<String>>>;

/// Copies the child's output line by line to this process's own stdout or stderr as it comes
/// (raw handles: shown even while the harness captures `print!`), keeping the `FAIL` lines.
fn forward(from: impl Read + Send + 'static, to_stderr: bool, fails: Fails) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut reader = BufReader::new(from);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            let line = String::from_utf8_lossy(&buf);
            let line = line.trim_end_matches(['\r', '\n']);
            let _ = if to_stderr {
                writeln!(std::io::stderr().lock(), "[browser] {line}")
            } else {
                writeln!(std::io::stdout().lock(), "[browser] {line}")
            };
            if line.starts_with("FAIL ") {
                fails.lock().unwrap_or_else(|e| e.into_inner()).push(line.to_owned());
            }
        }
    })
}

/// Waits for the child up to `timeout`; past it, asks it to stop (so it stops its `pond demo`),
/// then kills it, and returns `None`.
fn wait_with_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("check whether node browser/run.mjs has exited") {
            return Some(status);
        }
        if start.elapsed() > timeout {
            break;
        }
        thread::sleep(Duration::from_millis(200));
    }
    #[cfg(unix)]
    {
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        let grace = Instant::now();
        while grace.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = child.try_wait() {
                return None;
            }
            thread::sleep(Duration::from_millis(200));
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

#[test]
fn browser_journeys() {
    // The journeys run the demo, which is SQLite; `.ci/run`'s PostgreSQL pass would only repeat them.
    if env::var_os("POND_TEST_DATABASE_URL").is_some() {
        let _ = writeln!(std::io::stderr(), "SKIPPED browser test: it runs in the SQLite pass");
        return;
    }
    let tools = match tools() {
        Ok(tools) => tools,
        Err(why) => {
            if env::var_os("CI").is_some() {
                panic!("browser test cannot run, and CI is set: {why}");
            }
            // Written to the raw stderr handle so the test harness does not swallow it.
            let _ = writeln!(std::io::stderr(), "SKIPPED browser test: {why}");
            return;
        }
    };
    let repo = repo();
    let failures_dir =
        env::var_os("CARGO_TARGET_DIR").map_or_else(|| repo.join("target"), PathBuf::from).join("browser-failures");
    let script = repo.join("browser/run.mjs");
    let pond = Path::new(env!("CARGO_BIN_EXE_pond"));
    let mut child = Command::new(&tools.node)
        .arg(&script)
        .arg("--pond")
        .arg(pond)
        .env("CHROMIUM", &tools.chromium)
        .current_dir(&repo)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("could not start {} {}: {e}", tools.node.display(), script.display()));
    let fails = Fails::default();
    let out = forward(child.stdout.take().expect("node's stdout is piped"), false, fails.clone());
    let err = forward(child.stderr.take().expect("node's stderr is piped"), true, fails.clone());
    let Some(status) = wait_with_timeout(&mut child, TIMEOUT) else {
        panic!("browser/run.mjs did not finish within {} s; it was stopped", TIMEOUT.as_secs());
    };
    out.join().expect("the stdout forwarder panicked");
    err.join().expect("the stderr forwarder panicked");
    let fails = fails.lock().unwrap_or_else(|e| e.into_inner());
    assert!(
        status.success(),
        "browser journeys failed ({status}):\n{}\nscreenshots and pond's log: {}",
        fails.join("\n"),
        failures_dir.display()
    );
}
