//! The `lumbar` command line: `serve` (the default), `migrate`, `openapi`.

use std::{ffi::OsString, process::ExitCode, sync::Arc};

use clap::{
    CommandFactory, Parser, Subcommand,
    error::{ContextKind, ContextValue, ErrorKind},
};

use migration::{Migrator, MigratorTrait};
use tokio_util::sync::CancellationToken;

use crate::{
    app::{self, Application},
    auth::{password, tokens::parse_role},
    clock::SystemClock,
    config::Config,
    notify::{Mailer, Worker, WorkerSettings},
    store::{self, users},
    telemetry,
};

#[derive(Debug, Parser)]
#[command(
    name = "lumbar",
    version,
    about = "Clinic intake, red-flag triage and scheduling backend",
    long_about = "Lumbar scores patients' intake questionnaires, flags the cases that need a \
doctor today, and books chiropractic and physiotherapy appointments.\n\n\
Every option can also be set through the environment variable shown with it. With no options \
Lumbar runs on an embedded SQLite database under ./data and writes emails as .eml files.",
    after_help = "Examples:\n  lumbar                                   serve on 127.0.0.1:8080 with SQLite in ./data\n  \
DATABASE_URL=postgres://postgres@127.0.0.1:5432/lumbar lumbar serve\n  lumbar migrate                           apply pending migrations and exit\n  \
lumbar openapi > openapi.json            write the API description"
)]
pub struct Cli {
    #[command(flatten)]
    pub config: Config,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Run the HTTP API (the default when no command is given). Applies migrations first;
    /// stops cleanly on Ctrl-C or SIGTERM.
    Serve,
    /// Apply pending database migrations, then exit.
    Migrate,
    /// Deliver queued emails until Ctrl-C or SIGTERM, without serving HTTP. Several workers may
    /// run against one PostgreSQL database; run `serve` with `--outbox-worker false` then.
    Worker,
    /// Print the OpenAPI 3 description of the HTTP API as JSON, then exit. Needs no database.
    Openapi,
    /// Manage accounts.
    #[command(subcommand)]
    User(UserCommand),
}

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum UserCommand {
    /// Create an account, e.g. the first admin. The password is read from standard input
    /// (`--password-stdin`) or asked for at the terminal; it is never an argument.
    Add(AddUser),
}

#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct AddUser {
    /// staff, practitioner or admin. Patients register themselves or are invited by the front
    /// desk, so that every patient login has its patient record.
    #[arg(long, value_parser = ["staff", "practitioner", "admin"])]
    pub role: String,
    #[arg(long)]
    pub email: String,
    /// The name shown in the application and in emails. Default: the part of the email before @.
    #[arg(long)]
    pub name: Option<String>,
    /// Read the password from the first line of standard input.
    #[arg(long)]
    pub password_stdin: bool,
}

/// Entry point of the binary.
pub fn run() -> ExitCode {
    run_from(std::env::args_os())
}

pub fn run_from(args: impl IntoIterator<Item = impl Into<OsString> + Clone>) -> ExitCode {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(err) => return report_usage_error(err),
    };
    let command = cli.command.clone().unwrap_or(Command::Serve);
    if command == Command::Openapi {
        println!("{}", app::openapi_json());
        return ExitCode::SUCCESS;
    }
    if let Err(err) = telemetry::init(cli.config.log_format, &cli.config.log) {
        eprintln!("lumbar: {err:#}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("lumbar: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async move {
        match command {
            Command::Serve => serve(cli.config).await,
            Command::Migrate => migrate(cli.config).await,
            Command::Worker => worker(cli.config).await,
            Command::User(UserCommand::Add(add)) => add_user(cli.config, add).await,
            Command::Openapi => unreachable!("handled before the runtime starts"),
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = format!("{err:#}"), "lumbar stopped with an error");
            eprintln!("lumbar: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        ?config,
        "starting lumbar"
    );
    let application = Application::build(config, Arc::new(SystemClock)).await?;
    let address = application.local_addr();
    tracing::info!(%address, "lumbar is listening on http://{address} (API docs at http://{address}/docs)");
    application.run_until(app::shutdown_signal()).await?;
    tracing::info!("lumbar stopped");
    Ok(())
}

async fn migrate(config: Config) -> anyhow::Result<()> {
    let database = config.database();
    let db = store::connect(&database, 1).await?;
    store::migrate(&db).await?;
    db.close().await?;
    tracing::info!(database = %database, "migrations applied");
    Ok(())
}

async fn add_user(config: Config, add: AddUser) -> anyhow::Result<()> {
    let password = if add.password_stdin {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    } else {
        rpassword::prompt_password(format!("Password for {}: ", add.email))?
    };
    password::check_strength(&password)
        .map_err(|reason| anyhow::anyhow!("password refused: {reason}"))?;
    let email = users::normalize_email(&add.email);
    email
        .parse::<lettre::Address>()
        .map_err(|_| anyhow::anyhow!("`{}` is not an email address", add.email))?;
    let role =
        parse_role(&add.role).ok_or_else(|| anyhow::anyhow!("unknown role `{}`", add.role))?;
    let display_name = add
        .name
        .unwrap_or_else(|| email.split('@').next().unwrap_or_default().to_owned());
    let db = store::connect(&config.database(), 1).await?;
    store::migrate(&db).await?;
    let password_hash = password::hash(password).await?;
    let user = users::create(
        &db,
        chrono::Utc::now(),
        users::NewUser {
            email,
            display_name,
            password_hash: Some(password_hash),
            role,
            email_verified: true,
        },
    )
    .await?;
    db.close().await?;
    // The id only: the address is already on the operator's screen and need not be in logs.
    println!("created {} account {}", add.role, user.id);
    Ok(())
}

async fn worker(config: Config) -> anyhow::Result<()> {
    let mailer = Mailer::from_config(&config)?;
    let database = config.database();
    let db = store::connect(&database, config.db_max_connections).await?;
    // A worker never migrates: with several of them that would race. It refuses an old schema.
    let pending = Migrator::get_pending_migrations(&db).await?;
    if !pending.is_empty() {
        anyhow::bail!(
            "the database schema is {} migration(s) behind; run `lumbar migrate` first",
            pending.len()
        );
    }
    let stop = CancellationToken::new();
    let worker = Worker::new(
        db.clone(),
        mailer,
        Arc::new(SystemClock),
        WorkerSettings::from_config(&config),
    );
    let running = tokio::spawn(worker.run(stop.clone()));
    app::shutdown_signal().await;
    stop.cancel();
    running.await?;
    db.close().await?;
    Ok(())
}

/// Help and version go to stdout as clap prints them. A bad setting becomes one line naming the
/// setting by flag and environment variable; secrets' values are never echoed.
fn report_usage_error(err: clap::Error) -> ExitCode {
    match err.kind() {
        ErrorKind::InvalidValue | ErrorKind::ValueValidation => {
            eprintln!("{}", invalid_setting_line(&err));
            ExitCode::from(2)
        }
        _ => {
            let _ = err.print();
            if err.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            }
        }
    }
}

fn invalid_setting_line(err: &clap::Error) -> String {
    let flag = match err.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(flag)) => flag
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned(),
        _ => String::new(),
    };
    let value = match err.get(ContextKind::InvalidValue) {
        Some(ContextValue::String(value)) => value.clone(),
        _ => String::new(),
    };
    let command = Cli::command();
    let env = command
        .get_arguments()
        .find(|arg| {
            arg.get_long()
                .is_some_and(|long| format!("--{long}") == flag)
        })
        .and_then(|arg| arg.get_env())
        .map(|env| env.to_string_lossy().into_owned());
    let name = match &env {
        Some(env) => format!("{env} ({flag})"),
        None => flag.clone(),
    };
    let secret = matches!(env.as_deref(), Some("DATABASE_URL" | "SMTP_URL"));
    let valid = match err.get(ContextKind::ValidValue) {
        Some(ContextValue::Strings(values)) => {
            Some(format!("expected one of: {}", values.join(", ")))
        }
        _ => None,
    };
    let reason = std::error::Error::source(err)
        .map(|source| source.to_string())
        .or(valid)
        .unwrap_or_else(|| {
            // Clap's own message, e.g. for an enum value it does not know; first line only.
            err.to_string()
                .lines()
                .next()
                .unwrap_or_default()
                .trim_start_matches("error: ")
                .to_owned()
        });
    if secret || value.is_empty() {
        format!("lumbar: invalid {name}: {reason}")
    } else {
        format!("lumbar: invalid {name} `{value}`: {reason}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_error(args: &[&str]) -> clap::Error {
        Cli::try_parse_from(args).expect_err("arguments should be refused")
    }

    #[test]
    fn bad_values_name_the_flag_and_the_variable_on_one_line() {
        let line = invalid_setting_line(&parse_error(&["lumbar", "--listen", "nowhere"]));
        assert!(line.contains("LUMBAR_LISTEN (--listen)"), "{line}");
        assert!(line.contains("`nowhere`"), "{line}");
        assert_eq!(line.lines().count(), 1);

        let line = invalid_setting_line(&parse_error(&["lumbar", "--log-format", "xml"]));
        assert!(line.contains("LUMBAR_LOG_FORMAT (--log-format)"), "{line}");
        assert!(line.contains("expected one of: pretty, json"), "{line}");
    }

    #[test]
    fn secret_values_are_not_echoed() {
        let line = invalid_setting_line(&parse_error(&[
            "lumbar",
            "--database-url",
            "mysql://root:topsecret@db/x",
        ]));
        assert!(line.contains("DATABASE_URL"), "{line}");
        assert!(!line.contains("topsecret"), "{line}");
    }

    #[test]
    fn serve_is_the_default_command() {
        let cli = Cli::try_parse_from(["lumbar"]).unwrap();
        assert_eq!(cli.command, None);
        let cli = Cli::try_parse_from(["lumbar", "migrate", "--data-dir", "/tmp/x"]).unwrap();
        assert_eq!(cli.command, Some(Command::Migrate));
        assert_eq!(cli.config.data_dir, std::path::PathBuf::from("/tmp/x"));
    }

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
