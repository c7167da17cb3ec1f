//! The subcommands. Each loads the configuration, opens (and migrates) the database, and calls
//! into the libraries; no business rules live here.

use std::{io::Write, net::SocketAddr, path::PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use clap::{Parser, Subcommand};
use pond_app::{
    App, AppError, Config,
    auth::{self, Actor},
    config::Sources,
};
use pond_core::{Role, ids};
use pond_store::Db;
use tracing_subscriber::EnvFilter;

#[derive(Debug, Parser)]
#[command(name = "pond", version, about = "Pond: a self-hosted SCRM for WeCom (企业微信)")]
pub struct Cli {
    /// Configuration file (default: ./pond.toml when it exists). POND_* environment variables override it.
    #[arg(long, global = true, env = "POND_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (API, console, job worker).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage console users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// The key sealing WeCom secrets in the database.
    #[command(subcommand)]
    Secrets(SecretsCommand),
    /// Fully sync a corp with WeCom now and print what was found.
    Sync {
        /// Corp id (Pond's number); needed only when there are several corps.
        #[arg(long)]
        corp: Option<i64>,
    },
    /// Run the WeCom simulator alone, or drive traffic against a running one.
    Sim(SimArgs),
    /// Benchmarks (they print figures; they are not tests).
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Start a demo: a data folder, a demo corp and owner login, the WeCom simulator, the server.
    /// The simulator's world is kept in the data folder, so a restart shows the same world.
    Demo {
        /// Folder for the demo's database and the simulator's world.
        #[arg(long, default_value = "pond-data")]
        data_dir: PathBuf,
        /// Address to listen on (the simulator listens one port above).
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Start over: delete the demo's database and the simulator's world in the data folder
        /// first (the key file is kept).
        #[arg(long)]
        reset: bool,
        /// World actions per second the simulator makes up (customers scanning, leaving, being
        /// tagged…); 0 for none.
        #[arg(long, default_value_t = 0.5)]
        traffic: f64,
    },
}

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
struct SimArgs {
    #[command(subcommand)]
    command: Option<SimCommand>,
    /// Address the simulator listens on.
    #[arg(long, default_value = "127.0.0.1:9400")]
    listen: SocketAddr,
    /// Where to push callbacks, e.g. http://127.0.0.1:8080/wecom/callback/1.
    #[arg(long)]
    callback_url: Option<String>,
    #[command(flatten)]
    scenario: ScenarioArgs,
}

#[derive(Debug, Clone, clap::Args)]
struct ScenarioArgs {
    /// Seed of the scenario (same seed, same world).
    #[arg(long, default_value_t = 42)]
    seed: u64,
    #[arg(long, default_value_t = 10)]
    stores: usize,
    #[arg(long, default_value_t = 5)]
    staff_per_store: usize,
    #[arg(long, default_value_t = 2000)]
    customers: usize,
    #[arg(long, default_value_t = 20)]
    groups: usize,
}

impl ScenarioArgs {
    fn scenario(&self) -> wecom_sim::world::Scenario {
        wecom_sim::world::Scenario {
            seed: self.seed,
            stores: self.stores,
            staff_per_store: self.staff_per_store,
            customers: self.customers,
            groups: self.groups,
            history_days: 0,
        }
    }
}

#[derive(Debug, Subcommand)]
enum SimCommand {
    /// Drive a realistic mix of world actions against a running simulator.
    Traffic {
        /// The simulator's base URL.
        #[arg(long, default_value = "http://127.0.0.1:9400")]
        url: String,
        /// Actions per second.
        #[arg(long, default_value_t = 2.0)]
        rate: f64,
        /// How long, e.g. 30s, 5m, 1h.
        #[arg(long, default_value = "60s", value_parser = parse_duration)]
        duration: std::time::Duration,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let t = text.trim();
    let (number, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(t.len()));
    let n: f64 = number.parse().map_err(|_| format!("{text:?} is not a duration such as 30s, 5m or 1h"))?;
    let secs = match unit {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("unknown unit {unit:?}: use ms, s, m or h")),
    };
    if !(0.0..=7.0 * 86_400.0).contains(&secs) {
        return Err("duration must be between 0 and 7 days".into());
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Add events from the simulator's callbacks through Pond to the welcome message, with throughput and latency.
    Pipeline(crate::bench::PipelineArgs),
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Add a console user. Prints a generated password unless --password is given.
    Add {
        #[arg(long)]
        email: String,
        /// owner, admin or operator.
        #[arg(long)]
        role: String,
        /// At least 10 characters; generated when omitted.
        #[arg(long, env = "POND_NEW_USER_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        /// Corp id (Pond's number); needed only when there are several corps.
        #[arg(long)]
        corp: Option<i64>,
    },
    /// Set a new (generated) password for a console user and print it.
    Password {
        #[arg(long)]
        email: String,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create an API token and print it (shown once).
    Add {
        #[arg(long)]
        name: String,
        /// What the token may do: readonly, operator, admin or owner.
        #[arg(long, default_value = "operator")]
        role: String,
        #[arg(long)]
        corp: Option<i64>,
    },
}

#[derive(Debug, Subcommand)]
enum SecretsCommand {
    /// Seal every stored secret with a new key, then keep only the new key. With the key in a file,
    /// the file is rewritten (0600); with POND_SECURITY__SECRET_KEY, the new key is printed for you
    /// to set on every instance.
    RotateKey,
}

pub async fn run(cli: Cli) -> Result<()> {
    let (mut config, warnings) = Config::load(&Sources { file: cli.config.clone() })?;
    if let Command::Demo { data_dir, listen, .. } = &cli.command {
        config.data_dir = data_dir.clone();
        if let Some(addr) = listen {
            config.listen = *addr;
        }
        // The demo's simulator serves QR and uploaded images from this machine.
        config.security.loopback_images = true;
        // Every visitor of the demo is this machine, its simulated visits included (20 a minute).
        if config.security.h5_hits_per_minute == Config::default().security.h5_hits_per_minute {
            config.security.h5_hits_per_minute = 600;
        }
    }
    init_logging(&config.log);
    for w in warnings {
        tracing::warn!("{w}");
    }
    match cli.command {
        Command::Serve => serve(config).await,
        Command::Migrate => {
            let db = connect(&config).await?;
            let applied = db.migrate().await?;
            println!("migrations applied: {applied:?}; now at {:?}", db.applied_migrations().await?.last());
            Ok(())
        }
        Command::User(UserCommand::Add { email, role, password, corp }) => {
            let db = connect(&config).await?;
            let corp_id = pick_corp(&db, corp).await?;
            let role: Role = role.parse()?;
            let (password, generated) = match password {
                Some(p) => (p, false),
                None => (generate_password(), true),
            };
            let app = app_over(db, config)?;
            let user = pond_app::admin::add_user(&app, &Actor::cli(), corp_id, &email, role, &password)
                .await
                .map_err(cli_error)?;
            println!("added {} ({}) to corp {corp_id}", user.email, user.role);
            if generated {
                println!("password: {password}");
            }
            Ok(())
        }
        Command::User(UserCommand::Password { email }) => {
            let db = connect(&config).await?;
            let email = ids::login_email(&email)?;
            let user = pond_store::user::find_by_email(&db, &email)
                .await?
                .ok_or_else(|| anyhow!("no console user {email}"))?;
            let password = generate_password();
            let app = app_over(db, config)?;
            pond_app::admin::set_password(&app, &Actor::cli(), &user.email, &password).await.map_err(cli_error)?;
            println!("new password for {email}: {password}");
            Ok(())
        }
        Command::Token(TokenCommand::Add { name, role, corp }) => {
            let role: Role = role.parse()?;
            let db = connect(&config).await?;
            let corp_id = pick_corp(&db, corp).await?;
            let app = app_over(db, config)?;
            let (token, _) =
                pond_app::admin::create_token(&app, &Actor::cli(), corp_id, &name, role).await.map_err(cli_error)?;
            println!("API token for corp {corp_id}, role {role} (shown once): {token}");
            Ok(())
        }
        Command::Secrets(SecretsCommand::RotateKey) => rotate_key(config).await,
        Command::Demo { reset, traffic, .. } => demo(config, DemoOptions { reset, traffic }).await,
        Command::Sync { corp } => {
            let db = connect(&config).await?;
            let corp_id = pick_corp(&db, corp).await?;
            let app = app_over(db, config)?;
            let started = std::time::Instant::now();
            let run = pond_app::sync::run_full_sync(&app, corp_id, "cli").await.map_err(cli_error)?;
            match run.error {
                None => {
                    println!(
                        "sync of corp {corp_id} done in {:.1} s: {}",
                        started.elapsed().as_secs_f64(),
                        run.summary
                    );
                    Ok(())
                }
                Some(e) => bail!("sync of corp {corp_id} failed: {e}"),
            }
        }
        Command::Sim(args) => sim(args).await,
        Command::Bench(BenchCommand::Pipeline(args)) => crate::bench::pipeline(args).await,
    }
}

fn init_logging(filter: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(filter));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

async fn connect(config: &Config) -> Result<Db> {
    let url = config.effective_database_url();
    if url.starts_with("sqlite:") {
        pond_app::files::private_dir(&config.data_dir)
            .with_context(|| format!("creating data folder {}", config.data_dir.display()))?;
        pond_app::files::prepare_sqlite(&url).context("creating the database file (mode 0600)")?;
        if config.storage.sqlite_synchronous == pond_app::config::SqliteSynchronous::Normal {
            tracing::warn!(
                "storage.sqlite_synchronous = normal: a power failure or an operating-system crash can lose the last \
                 callbacks acknowledged to WeCom, which WeCom does not send again"
            );
        }
    }
    Db::open_with(&url, config.storage.db_options()).await.context("opening the database")
}

/// The app over `db`, with the key sealing WeCom secrets loaded (the key file created on first
/// start).
fn app_over(db: Db, mut config: Config) -> Result<App> {
    let (keys, _) = pond_app::secrets::load_or_create(&config).context("loading the key for WeCom secrets")?;
    config.security.secret_key = keys;
    if config.instance_id.trim().is_empty() {
        config.instance_id = pond_app::files::instance_id(&config.data_dir)
            .with_context(|| format!("keeping this instance's id in {}", config.data_dir.display()))?;
    }
    Ok(App::new(db, config))
}

/// `pond secrets rotate-key`.
async fn rotate_key(config: Config) -> Result<()> {
    use pond_app::secrets::{self, KeySource};
    let db = connect(&config).await?;
    let (old, source) = secrets::load_or_create(&config).context("loading the current key")?;
    let app_with = |keys: String| {
        let mut c = config.clone();
        c.security.secret_key = keys;
        App::new(db.clone(), c)
    };
    // Every stored secret must open with the current keys before any is re-sealed.
    secrets::check_keys(&app_with(old.clone())).await.map_err(cli_error)?;
    let new = secrets::new_key();
    let during: Vec<String> = std::iter::once(new.clone()).chain(old.split(',').map(str::to_owned)).collect();
    // The new key is kept before any value is sealed with it, so a crash midway loses nothing:
    // written beside the old one in the key file, or printed for the variable.
    match &source {
        KeySource::File(path) => secrets::write_key_file(path, &during).context("writing the key file")?,
        KeySource::Setting => {
            println!("new key (set it on every instance once this command has finished):");
            println!("POND_SECURITY__SECRET_KEY={new}");
            println!("until then, POND_SECURITY__SECRET_KEY={} opens both", during.join(","));
        }
    }
    let corps = secrets::seal_stored(&app_with(during.join(","))).await.map_err(cli_error)?;
    // Only when everything opens with the new key alone is the old one dropped.
    secrets::check_keys(&app_with(new.clone())).await.map_err(|e| {
        anyhow!("{e}; the old key is kept (the key file holds both) — run rotate-key again with Pond stopped")
    })?;
    match source {
        KeySource::File(path) => {
            secrets::write_key_file(&path, std::slice::from_ref(&new)).context("writing the key file")?;
            println!("sealed the secrets of {corps} corp(s) with a new key; {} now holds only it", path.display());
            println!("back up the key file with the database: one without the other cannot be read");
        }
        KeySource::Setting => println!("sealed the secrets of {corps} corp(s) with the new key printed above"),
    }
    Ok(())
}

/// The corp a command acts on: the one given, the only one, or a new default corp when none exists.
async fn pick_corp(db: &Db, given: Option<i64>) -> Result<i64> {
    if let Some(id) = given {
        return Ok(pond_store::corp::get(db, id).await?.id);
    }
    let corps = pond_store::corp::list(db).await?;
    match corps.as_slice() {
        [] => Ok(pond_store::corp::create(db, "默认企业").await?.id),
        [only] => Ok(only.id),
        many => bail!(
            "there are several corps; choose one with --corp: {}",
            many.iter().map(|c| format!("{} ({})", c.id, c.name)).collect::<Vec<_>>().join(", ")
        ),
    }
}

fn generate_password() -> String {
    auth::random_hex(8)
}

/// The one mapping from service errors to the command line's messages.
fn cli_error(e: AppError) -> anyhow::Error {
    match e.cause() {
        Some(cause) => anyhow!("{e}: {cause}"),
        None => anyhow!("{e}"),
    }
}

async fn serve(config: Config) -> Result<()> {
    let db = connect(&config).await?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listening on {} (key `listen`)", config.listen))?;
    let url = config.effective_public_url();
    let app = app_over(db, config)?;
    pond_app::secrets::check_keys(&app).await.map_err(cli_error)?;
    let sealed = pond_app::secrets::seal_stored(&app).await.map_err(cli_error)?;
    if sealed > 0 {
        tracing::info!(corps = sealed, "sealed WeCom secrets stored before they were encrypted");
    }
    let registry = pond_app::pipeline::default_registry(&app);
    let running = pond_server::start(app, listener, registry, true).await?;
    tracing::info!(addr = %running.addr, "Pond is serving; console at {url}/console");
    running.wait().await;
    Ok(())
}

const DEMO_OWNER: &str = "owner@demo.pond";

/// The simulator's world, in the demo's data folder.
const DEMO_WORLD_FILE: &str = "wecom-sim-world.json";

/// How often the demo saves the simulator's world when it changed (after a `kill -9`, the saved
/// world can be this much behind Pond's database).
const DEMO_SAVE_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

struct DemoOptions {
    reset: bool,
    traffic: f64,
}

/// `pond demo`: Pond and the WeCom simulator in one process, over one data folder holding both
/// Pond's database and the simulator's world, so that they always belong together. A folder with
/// Pond's demo data but no usable world is refused (a new world would make Pond mark its
/// customers and staff removed) unless `--reset` starts both over.
async fn demo(config: Config, opts: DemoOptions) -> Result<()> {
    if !(0.0..=100.0).contains(&opts.traffic) {
        bail!("--traffic must be between 0 and 100 actions per second");
    }
    // Listened to from the start, so that a signal during start-up waits for it to finish.
    let mut stop = StopSignals::listen()?;
    let world_path = config.data_dir.join(DEMO_WORLD_FILE);
    let again = demo_command(&config);
    if opts.reset {
        reset_demo(&config, &world_path)?;
    }
    let saved = wecom_sim::persist::load(&world_path).map_err(|e| {
        anyhow!(
            "the WeCom simulator's world cannot be loaded: {e}.\n\
             Pond's demo data in {dir} was made with that world; with a new one, Pond would mark \
             its customers and staff removed, so the demo does not start.\n\
             Put back a good copy of {file}, or start a new demo (this deletes the demo's data): {again} --reset",
            dir = config.data_dir.display(),
            file = world_path.display(),
        )
    })?;
    let db = connect(&config).await?;
    let owner = pond_store::user::find_by_email(&db, DEMO_OWNER).await?;
    if saved.is_none() && owner.is_some() {
        bail!(
            "{dir} holds a Pond demo but not the WeCom simulator's world it was made with ({file} is \
             missing: made by an earlier Pond, or removed). With a new world, Pond would mark its \
             customers and staff removed, so the demo does not start.\n\
             Start a new demo (this deletes the demo's data): {again} --reset",
            dir = config.data_dir.display(),
            file = world_path.display(),
        );
    }
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listening on {} (use --listen to pick another address)", config.listen))?;
    let url = config.effective_public_url();

    // The simulator plays WeCom for the demo corp: the saved world, or a new one — saved at once,
    // before Pond holds anything from it.
    let restored = saved.is_some();
    let sim = match saved {
        Some(saved) => wecom_sim::Simulator::restore(wecom_sim::SimConfig::default(), saved)?,
        None => {
            // Customers added over the last 60 days, so the dashboard has a trend to show.
            let scenario = wecom_sim::world::Scenario { history_days: 60, ..Default::default() };
            let sim =
                wecom_sim::Simulator::new(wecom_sim::SimConfig { scenario: Some(scenario), ..Default::default() })?;
            pond_app::files::private_dir(&config.data_dir)
                .with_context(|| format!("creating data folder {}", config.data_dir.display()))?;
            let (s, p) = (sim.clone(), world_path.clone());
            tokio::task::spawn_blocking(move || s.save(&p))
                .await?
                .with_context(|| format!("saving the simulator's world to {}", world_path.display()))?;
            sim
        }
    };
    let autosave = wecom_sim::persist::Autosave::start(&sim, world_path.clone(), DEMO_SAVE_EVERY);

    let mut out = std::io::stdout().lock();
    let app = app_over(db.clone(), config.clone())?;
    pond_app::secrets::check_keys(&app).await.map_err(cli_error)?;
    pond_app::secrets::seal_stored(&app).await.map_err(cli_error)?;
    let corp_id = match owner {
        None => {
            let corp = pond_store::corp::create(&db, "示例咖啡连锁 Demo Coffee").await?;
            let password = generate_password();
            let demo = Actor::system("demo");
            pond_app::admin::add_user(&app, &demo, corp.id, DEMO_OWNER, Role::Owner, &password)
                .await
                .map_err(cli_error)?;
            let (token, _) =
                pond_app::admin::create_token(&app, &demo, corp.id, "demo", Role::Admin).await.map_err(cli_error)?;
            writeln!(out, "Pond demo is ready (data in {}).", config.data_dir.display())?;
            writeln!(out, "  Console:   {url}/console")?;
            writeln!(out, "  Login:     {DEMO_OWNER}")?;
            writeln!(
                out,
                "  Password:  {password}   (shown once; reset with `pond user password --email {DEMO_OWNER}`)"
            )?;
            writeln!(
                out,
                "  API token: {token}   (shown once; try: curl -H 'Authorization: Bearer {token}' {url}/api/v1/corp)"
            )?;
            corp.id
        }
        Some(owner) => {
            writeln!(out, "Pond demo (data in {}).", config.data_dir.display())?;
            writeln!(out, "  Console: {url}/console")?;
            writeln!(
                out,
                "  Login:   {DEMO_OWNER} (password shown at first start; reset with `pond user password --email {DEMO_OWNER}`)"
            )?;
            owner.corp_id
        }
    };
    let sim_addr = SocketAddr::new(config.listen.ip(), config.listen.port().wrapping_add(1));
    let (sim_addr, _sim_server) =
        sim.start(sim_addr).await.with_context(|| format!("starting the WeCom simulator on {sim_addr}"))?;
    let creds = sim.credentials();
    let settings = pond_store::corp::WecomSettings {
        name: pond_store::corp::get(&db, corp_id).await?.name,
        wecom_corp_id: Some(creds.corp_id.clone()),
        agent_id: Some(creds.agent_id),
        contact_secret: Some(pond_core::Secret::new(creds.contact_secret.clone())),
        app_secret: Some(pond_core::Secret::new(creds.app_secret.clone())),
        callback_token: Some(pond_core::Secret::new(creds.callback_token.clone())),
        encoding_aes_key: Some(pond_core::Secret::new(creds.encoding_aes_key.clone())),
        api_base_url: format!("http://{sim_addr}"),
    };
    pond_app::secrets::store_settings(&app, &db, corp_id, &settings).await.map_err(cli_error)?;
    writeln!(out, "  WeCom simulator: http://{sim_addr} (world control under /sim/)")?;
    writeln!(
        out,
        "  Its world: {} ({}; saved every {} s and at stop)",
        world_path.display(),
        if restored { "restored" } else { "new" },
        DEMO_SAVE_EVERY.as_secs()
    )?;
    writeln!(out, "Press Ctrl-C to stop.")?;
    drop(out);
    let state = app;
    let registry = pond_app::pipeline::default_registry(&state);
    // Signals are this command's: it stops the simulator's deliveries before the server.
    let running = pond_server::start(state.clone(), listener, registry, false).await?;
    sim.configure_callbacks(wecom_sim::callbacks::CallbackConfig {
        url: Some(format!("http://{}/wecom/callback/{corp_id}", running.addr)),
        duplicate: false,
        retry_delay_ms: 1_000,
        concurrency: 1,
    });
    // A full sync at every start: the first fills Pond; after a restart it reconciles Pond with
    // the world (after a `kill -9`, the saved world may be a few seconds behind Pond).
    if demo_sync(&state, corp_id).await
        && let Err(e) = demo_codes(&state, corp_id).await
    {
        tracing::warn!("demo channel codes not created: {e}");
    }
    let landing = pond_store::channel_code::list(&state.db, corp_id)
        .await?
        .into_iter()
        .find(|c| c.mode == "landing")
        .map(|c| c.id);
    let visits = tokio::spawn(demo_visits(format!("http://{}", running.addr), corp_id, landing));
    // Light traffic keeps the console alive (by default one world action every two seconds),
    // continuing where the saved world's traffic stopped.
    let traffic = (opts.traffic > 0.0).then(|| {
        let sim = sim.clone();
        tokio::spawn(async move {
            wecom_sim::generate_traffic(&sim, opts.traffic, std::time::Duration::from_secs(u64::MAX / 4), 1).await;
        })
    });

    let signal = stop.recv().await;
    tracing::info!("{signal} received, stopping the demo");
    // The world stops changing on its own and stops delivering (what is not acknowledged stays
    // pending, saved with the world); then Pond finishes its batches — still able to call the
    // simulator — and the world is saved once more, so it is never behind Pond after a clean stop.
    visits.abort();
    if let Some(traffic) = traffic {
        traffic.abort();
    }
    sim.state.pusher.hold();
    running.shutdown().await;
    autosave.stop().await.with_context(|| format!("saving the simulator's world to {}", world_path.display()))?;
    tracing::info!(path = %world_path.display(), "simulator world saved");
    Ok(())
}

/// The demo's sync at start; whether Pond now holds the world. If another sync of the corp is
/// running (Pond's own reconcile at start), it waits for that one instead — for two minutes at
/// most, since a run left `running` by a crash is only taken over after an hour.
async fn demo_sync(state: &App, corp_id: i64) -> bool {
    match pond_app::sync::run_full_sync(state, corp_id, "demo").await {
        Ok(run) if run.error.is_none() => {
            tracing::info!("demo data synced: {}", run.summary);
            true
        }
        Ok(run) => {
            tracing::warn!("demo sync failed: {}", run.error.unwrap_or_default());
            false
        }
        Err(AppError::Conflict(_)) => {
            tracing::info!("a sync of the demo corp is already running; waiting for it");
            let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(120);
            while tokio::time::Instant::now() < deadline {
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                match pond_store::sync_run::latest(&state.db, corp_id).await {
                    Ok(Some(run)) if run.status == "running" => {}
                    Ok(Some(run)) if run.error.is_none() => {
                        tracing::info!("demo data synced: {}", run.summary);
                        return true;
                    }
                    Ok(run) => {
                        tracing::warn!("demo sync failed: {}", run.and_then(|r| r.error).unwrap_or_default());
                        return false;
                    }
                    Err(e) => {
                        tracing::warn!("demo sync could not be followed: {e}");
                        return false;
                    }
                }
            }
            tracing::warn!("the sync already running did not finish within two minutes");
            false
        }
        Err(e) => {
            tracing::warn!("demo sync could not start: {e}");
            false
        }
    }
}

/// How to run this demo again (for messages): `pond demo` with the folder and address given.
fn demo_command(config: &Config) -> String {
    let mut command = "pond demo".to_owned();
    if config.data_dir != std::path::Path::new("pond-data") {
        command.push_str(&format!(" --data-dir {}", config.data_dir.display()));
    }
    command
}

/// `pond demo --reset`: deletes the demo's SQLite database (with its journals) and the
/// simulator's world. The key file stays (nothing sealed with it remains). A demo on PostgreSQL
/// is not reset: its database is not in the folder.
fn reset_demo(config: &Config, world_path: &std::path::Path) -> Result<()> {
    let url = config.effective_database_url();
    let Some(db_path) = url.strip_prefix("sqlite:") else {
        bail!(
            "--reset deletes a demo kept in SQLite in the data folder, but this demo's database is \
             PostgreSQL (database_url): drop and recreate that database yourself, delete {}, then \
             start the demo without --reset",
            world_path.display()
        );
    };
    let db_path = db_path.split('?').next().unwrap_or(db_path).trim_start_matches("//");
    let mut tmp = world_path.as_os_str().to_owned();
    tmp.push(".tmp");
    let mut files: Vec<PathBuf> = ["", "-wal", "-shm"].iter().map(|s| PathBuf::from(format!("{db_path}{s}"))).collect();
    files.push(world_path.to_owned());
    files.push(PathBuf::from(tmp));
    let mut removed = Vec::new();
    for file in files {
        match std::fs::remove_file(&file) {
            Ok(()) => removed.push(file.display().to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("--reset: deleting {}", file.display())),
        }
    }
    if removed.is_empty() {
        println!("--reset: no demo data in {}; starting a new demo.", config.data_dir.display());
    } else {
        println!("--reset: deleted {}; starting a new demo.", removed.join(", "));
    }
    Ok(())
}

/// Ctrl-C, and on Unix SIGTERM (what service managers and `kill` send), listened to from the
/// moment they are created.
struct StopSignals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl StopSignals {
    fn listen() -> Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(StopSignals {
                interrupt: signal(SignalKind::interrupt()).context("listening for Ctrl-C")?,
                terminate: signal(SignalKind::terminate()).context("listening for SIGTERM")?,
            })
        }
        #[cfg(not(unix))]
        Ok(StopSignals {})
    }

    /// Waits for the first of them; returns its name.
    async fn recv(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.interrupt.recv() => "Ctrl-C",
                _ = self.terminate.recv() => "SIGTERM",
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            "Ctrl-C"
        }
    }
}

async fn sim(args: SimArgs) -> Result<()> {
    if let Some(SimCommand::Traffic { url, rate, duration, seed }) = args.command {
        if !(rate > 0.0 && rate <= 1000.0) {
            bail!("--rate must be more than 0 and at most 1000 actions per second");
        }
        return traffic(&url, rate, duration, seed).await;
    }
    let sim = wecom_sim::Simulator::new(wecom_sim::SimConfig {
        scenario: Some(args.scenario.scenario()),
        callback: wecom_sim::callbacks::CallbackConfig {
            url: args.callback_url.clone(),
            duplicate: false,
            retry_delay_ms: 1_000,
            concurrency: 1,
        },
        ..Default::default()
    })?;
    let (addr, server) = sim.start(args.listen).await.with_context(|| format!("listening on {}", args.listen))?;
    let c = sim.credentials();
    println!("WeCom simulator at http://{addr} (API base URL for clients)");
    println!("  corp id:           {}", c.corp_id);
    println!("  app secret:        {}  (agent id {})", c.app_secret, c.agent_id);
    println!("  contact secret:    {}", c.contact_secret);
    println!("  callback token:    {}", c.callback_token);
    println!("  EncodingAESKey:    {}", c.encoding_aes_key);
    println!("  callbacks go to:   {}", args.callback_url.as_deref().unwrap_or("(none yet: PUT /sim/callback)"));
    println!("World control API under http://{addr}/sim/ (see README). Ctrl-C to stop.");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = server => {}
    }
    Ok(())
}

async fn traffic(url: &str, rate: f64, duration: std::time::Duration, seed: u64) -> Result<()> {
    let http = reqwest::Client::new();
    let interval = std::time::Duration::from_secs_f64(1.0 / rate);
    let start = tokio::time::Instant::now();
    let (mut applied, mut refused, mut n) = (0u64, 0u64, 0u64);
    while start.elapsed() < duration {
        let resp = http
            .post(format!("{}/sim/traffic", url.trim_end_matches('/')))
            .json(&serde_json::json!({"count": 1, "seed": seed.wrapping_add(n)}))
            .send()
            .await
            .with_context(|| format!("reaching the simulator at {url}"))?;
        let report: serde_json::Value = resp.json().await?;
        applied += report["applied"].as_u64().unwrap_or(0);
        refused += report["refused"].as_u64().unwrap_or(0);
        n += 1;
        tokio::time::sleep_until(start + interval.mul_f64(n as f64)).await;
    }
    println!(
        "{applied} actions applied, {refused} refused by the world's rules, in {:.0} s",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The demo's welcome message and channel codes (once): a parcel-card code (native) and a shop
/// poster (landing page), so the acquisition pages have data as the traffic scans them.
async fn demo_codes(state: &App, corp_id: i64) -> Result<()> {
    if !pond_store::channel_code::list(&state.db, corp_id).await?.is_empty() {
        return Ok(());
    }
    let welcome = pond_store::welcome::create(
        &state.db,
        corp_id,
        "默认欢迎语",
        "{customer_name}您好！我是{staff_name}，很高兴为您服务 ☕",
        "[]",
        true,
    )
    .await?;
    let tags = pond_store::tag::all_live(&state.db, corp_id).await?;
    let parcel_tag: Vec<String> = tags.iter().filter(|(_, _, n)| n == "包裹卡").map(|(id, _, _)| id.clone()).collect();
    let staff = |ids: &[&str]| {
        ids.iter().map(|u| pond_core::acquisition::StaffWeight { userid: (*u).to_owned(), weight: 1 }).collect()
    };
    // The simulated customers came through per-store table stickers (`state` store-001 …); one
    // landing code per store makes that attribution readable in the demo.
    let store_names = ["上海", "北京", "杭州", "深圳", "成都", "广州", "南京", "武汉", "苏州", "西安"];
    let sticker_names: Vec<(String, String, String)> = store_names
        .iter()
        .enumerate()
        .map(|(i, city)| (format!("{city}{}号店桌贴", 1), format!("store-{:03}", i + 1), format!("s{:03}e01", i + 1)))
        .collect();
    let mut codes = vec![
        (
            "包裹卡",
            "包裹卡",
            "native",
            "round_robin",
            "parcel-card",
            staff(&["s001e02", "s002e02", "s003e02"]),
            parcel_tag,
        ),
        (
            "上海1号店海报",
            "门店",
            "landing",
            "fewest_added_today",
            "poster-sh1",
            staff(&["s001e01", "s001e03"]),
            vec![],
        ),
    ];
    for (name, state_name, userid) in &sticker_names {
        codes.push((name, "门店桌贴", "landing", "round_robin", state_name, staff(&[userid]), vec![]));
    }
    for (name, group, mode, strategy, state_name, staff, auto_tags) in codes {
        let input = pond_app::acquisition::codes::CodeInput {
            name: name.to_owned(),
            channel_group: group.into(),
            mode: mode.into(),
            strategy: strategy.into(),
            state: state_name.to_owned(),
            rules: pond_core::acquisition::Rules {
                staff,
                daily_cap: Some(200),
                schedules: vec![],
                backup: vec!["s001e04".into()],
            },
            auto_tags,
            welcome_id: Some(welcome.id),
            skip_verify: true,
            remark_prefix: String::new(),
        };
        pond_app::acquisition::codes::create(state, &Actor::system("demo"), corp_id, input).await.map_err(cli_error)?;
    }
    // One store per simulated shop, near its city's centre, for the regional code.
    let centres = [
        ("上海", 31.2304, 121.4737),
        ("北京", 39.9042, 116.4074),
        ("杭州", 30.2741, 120.1551),
        ("深圳", 22.5431, 114.0579),
        ("成都", 30.5728, 104.0668),
        ("广州", 23.1291, 113.2644),
        ("南京", 32.0603, 118.7969),
        ("武汉", 30.5928, 114.3055),
        ("苏州", 31.2990, 120.5853),
        ("西安", 34.3416, 108.9398),
    ];
    let mut stores = Vec::new();
    for d in pond_store::department::list(&state.db, corp_id).await?.into_iter().filter(|d| d.parent_id.is_some()) {
        let Some((city, lat, lng)) = centres.iter().find(|(c, _, _)| d.name.starts_with(c)) else { continue };
        let n = d.dept_id - 1;
        let staff: Vec<String> = (1..=3).map(|e| format!("s{n:03}e{e:02}")).collect();
        stores.push(pond_store::store_location::NewStore {
            name: d.name.clone(),
            address: format!("{city}市中心路{}号", n * 10),
            city: (*city).to_owned(),
            latitude: lat + 0.01 * (n % 3) as f64,
            longitude: lng + 0.01 * (n % 2) as f64,
            staff_json: serde_json::to_string(&staff)?,
        });
    }
    pond_store::store_location::upsert_all(&state.db, corp_id, &stores).await?;
    Ok(())
}

/// Customers opening the printed codes: the poster's landing page and the regional page near a
/// random shop, every few seconds, so those codes get scans and contact ways the traffic can use.
async fn demo_visits(base: String, corp_id: i64, landing_code: Option<i64>) {
    let http = reqwest::Client::new();
    let mut n: u64 = 0;
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(3)).await;
        n += 1;
        let url = if let (0, Some(code)) = (n % 2, landing_code) {
            format!("{base}/c/{corp_id}/{code}")
        } else {
            let spots = [(31.235, 121.48), (39.91, 116.41), (30.28, 120.16), (22.55, 114.06), (30.58, 104.07)];
            let (lat, lng) = spots[(n as usize / 2) % spots.len()];
            format!("{base}/r/{corp_id}?lat={lat}&lng={lng}")
        };
        let _ = http.get(url).send().await;
    }
}
