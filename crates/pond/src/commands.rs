//! The subcommands. Each loads the configuration, opens (and migrates) the database, and calls
//! into the libraries; no business rules live here.

use std::{io::Write, net::SocketAddr, path::PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use clap::{Parser, Subcommand};
use pond_core::{Role, ids};
use pond_server::{AppState, Config, auth, config::Sources, worker::Registry};
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
    /// Start a demo: a data folder, a demo corp and owner login, and the server.
    Demo {
        /// Folder for the demo's database.
        #[arg(long, default_value = "pond-data")]
        data_dir: PathBuf,
        /// Address to listen on.
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
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
        #[arg(long)]
        corp: Option<i64>,
    },
}

pub async fn run(cli: Cli) -> Result<()> {
    let (mut config, warnings) = Config::load(&Sources { file: cli.config.clone() })?;
    if let Command::Demo { data_dir, listen } = &cli.command {
        config.data_dir = data_dir.clone();
        if let Some(addr) = listen {
            config.listen = *addr;
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
            let user = add_user(&db, corp_id, &email, role, &password).await?;
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
            let hash = auth::hash_password(&password)?;
            pond_store::user::set_password(&db, user.id, &hash).await?;
            pond_store::audit::record(&db, user.corp_id, "cli", "user.password", &email, "").await?;
            println!("new password for {email}: {password}");
            Ok(())
        }
        Command::Token(TokenCommand::Add { name, corp }) => {
            let db = connect(&config).await?;
            let corp_id = pick_corp(&db, corp).await?;
            let token = add_token(&db, corp_id, &name, "cli").await?;
            println!("API token for corp {corp_id} (shown once): {token}");
            Ok(())
        }
        Command::Demo { .. } => demo(config).await,
    }
}

fn init_logging(filter: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(filter));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

async fn connect(config: &Config) -> Result<Db> {
    let url = config.effective_database_url();
    if url.starts_with("sqlite:") {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating data folder {}", config.data_dir.display()))?;
    }
    Db::open(&url).await.context("opening the database")
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

async fn add_user(db: &Db, corp_id: i64, email: &str, role: Role, password: &str) -> Result<pond_store::user::User> {
    let email = ids::login_email(email)?;
    ids::new_password(password)?;
    let hash = auth::hash_password(password)?;
    let user = pond_store::user::create(db, corp_id, &email, &hash, role).await.map_err(|e| match e {
        pond_store::StoreError::Conflict(_) => anyhow!("a console user {email} exists already"),
        other => other.into(),
    })?;
    pond_store::audit::record(db, corp_id, "cli", "user.add", &email, &format!("role={role}")).await?;
    Ok(user)
}

async fn add_token(db: &Db, corp_id: i64, name: &str, actor: &str) -> Result<String> {
    let name = ids::required_text("name", name, 64)?;
    let (token, hash, prefix) = auth::new_api_token();
    pond_store::token::create(db, corp_id, &name, &hash, &prefix, actor).await?;
    pond_store::audit::record(db, corp_id, actor, "token.add", &prefix, &name).await?;
    Ok(token)
}

async fn serve(config: Config) -> Result<()> {
    let db = connect(&config).await?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listening on {} (key `listen`)", config.listen))?;
    let url = config.effective_public_url();
    let running = pond_server::start(AppState::new(db, config), listener, Registry::default(), true).await?;
    tracing::info!(addr = %running.addr, "Pond is serving; console at {url}/console");
    running.wait().await;
    Ok(())
}

const DEMO_OWNER: &str = "owner@demo.pond";

async fn demo(config: Config) -> Result<()> {
    let db = connect(&config).await?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listening on {} (use --listen to pick another address)", config.listen))?;
    let url = config.effective_public_url();
    let mut out = std::io::stdout().lock();
    if pond_store::user::find_by_email(&db, DEMO_OWNER).await?.is_none() {
        let corp = pond_store::corp::create(&db, "示例咖啡连锁 Demo Coffee").await?;
        let password = generate_password();
        add_user(&db, corp.id, DEMO_OWNER, Role::Owner, &password).await?;
        let token = add_token(&db, corp.id, "demo", "demo").await?;
        writeln!(out, "Pond demo is ready (data in {}).", config.data_dir.display())?;
        writeln!(out, "  Console:   {url}/console")?;
        writeln!(out, "  Login:     {DEMO_OWNER}")?;
        writeln!(out, "  Password:  {password}   (shown once; reset with `pond user password --email {DEMO_OWNER}`)")?;
        writeln!(
            out,
            "  API token: {token}   (shown once; try: curl -H 'Authorization: Bearer {token}' {url}/api/v1/corp)"
        )?;
    } else {
        writeln!(out, "Pond demo (data in {}).", config.data_dir.display())?;
        writeln!(out, "  Console: {url}/console")?;
        writeln!(
            out,
            "  Login:   {DEMO_OWNER} (password shown at first start; reset with `pond user password --email {DEMO_OWNER}`)"
        )?;
    }
    writeln!(out, "Press Ctrl-C to stop.")?;
    drop(out);
    let running = pond_server::start(AppState::new(db, config), listener, Registry::default(), true).await?;
    running.wait().await;
    Ok(())
}
