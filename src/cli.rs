//! The `lumbar` command line: `serve` (the default), `migrate`, `worker`, `openapi`,
//! `seed-demo`, `user add` and `triage evaluate`.

use std::{
    ffi::OsString,
    io::{IsTerminal, Read, Write},
    path::{Path, PathBuf},
    process::ExitCode,
    sync::Arc,
};

use clap::{
    CommandFactory, Parser, Subcommand,
    error::{ContextKind, ContextValue, ErrorKind},
};

use migration::{Migrator, MigratorTrait};
use tokio_util::sync::CancellationToken;

use crate::{
    app::{self, Application},
    auth::{password, tokens::parse_role},
    clinical,
    clock::{Clock, SystemClock},
    config::Config,
    demo,
    error::FieldError,
    notify::{Mailer, Worker, WorkerSettings},
    store::{self, users},
    telemetry,
    triage::{EvaluateError, Evaluation, RuleSetError, StandingFacts, Triage},
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
lumbar openapi > openapi.json            write the API description\n  \
lumbar seed-demo                         fill an empty database with a demo clinic and print its logins\n  \
lumbar triage evaluate --rules new-rules.toml < answers.json\n                                           try a rule file on a set of answers\n  \
lumbar triage evaluate --questionnaire follow-up --standing intake.json < follow-up.json\n                                           try a follow-up with the facts of an intake"
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
    /// Fill an empty database with a demo clinic and print its logins, then exit.
    #[command(
        long_about = "Fill an empty database with a demo clinic, then print its logins and exit. \
Applies migrations first.\n\n\
The demo: two locations in different time zones (Riverside Clinic in London, Harbor Street \
Clinic in New York), two chiropractors and two physiotherapists with weekday hours, the four \
usual appointment types, a front-desk account, an admin, and three patients whose routine intake \
lets them book. Every account's email ends in @demo.lumbar.invalid and has a random password, \
printed once on standard output.\n\n\
Refused (exit status 1) when the database already has any account: the demo never mixes with \
real data. The embedded default (no DATABASE_URL) seeds the same demo by itself on the start that \
creates its database file.",
        after_help = "Examples:\n  \
lumbar seed-demo && lumbar serve                      SQLite in ./data\n  \
DATABASE_URL=postgres://postgres@127.0.0.1:5432/lumbar_demo lumbar seed-demo"
    )]
    SeedDemo,
    /// Manage accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Try the questionnaires and red-flag rules on a set of answers, without a database.
    #[command(subcommand)]
    Triage(TriageCommand),
}

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum TriageCommand {
    /// Evaluate one set of answers: read them from standard input, print the triage result.
    #[command(
        long_about = "Evaluate one set of answers as a submitted intake would be, and print the \
result: validate the answers, score them, derive the facts (age, symptom days, …) and apply the \
red-flag rules. Nothing is stored and no database is needed, so clinicians can test a rule file \
before deploying it (as LUMBAR_RULES_FILE). The embedded defaults are the intake and follow-up \
questionnaires version 2 and rule set v2.\n\n\
Standard input: a JSON object mapping each questionnaire linkId to its answer, as the API takes \
it, e.g. {\"saddle_numbness\": true, \"pain_now\": 4, \"date_of_birth\": \"1985-06-15\", …}.\n\n\
Follow-ups: `--questionnaire follow-up` evaluates the follow-up questionnaire, which does not \
ask again what does not change. Its standing facts (date_of_birth, sex, cancer_history, \
iv_drug_use, immunosuppressed, recent_infection_or_procedure, recent_spinal_procedure, \
osteoporosis, long_term_steroids, smoker) come from `--standing FILE`, a JSON object of those \
linkIds with their answers as in an intake (a whole intake's answers will do; its other answers \
are ignored). Without --standing every standing fact is unknown, and a rule that needs an unknown \
fact does not fire. A rule is applied at follow-up only when it reads something the follow-up \
asked, so a cancer history alone does not fire again, while a cancer history with leg weakness \
reported now does.\n\n\
Standard output: the evaluation as JSON (disposition, scores, derived facts, every fired rule with \
its rationale and source, patient advice, rule-set and questionnaire versions).\n\n\
Exit status:\n  \
0  evaluated; the result is on standard output\n  \
1  could not evaluate: input that is not a JSON object, an unknown questionnaire, a rule \
file that cannot be read or does not fit the questionnaire (one line on standard error, naming \
the rule), or a standing-facts file that cannot be read or has a wrong value (one line, naming \
the linkId)\n  \
2  the answers were refused: {\"errors\": [{\"field\": linkId, \"code\", \"message\"}, …]} on \
standard output, as the API reports them; or the command line itself is wrong",
        after_help = "Examples:\n  \
lumbar triage evaluate < answers.json\n  \
lumbar triage evaluate --rules clinic-rules.toml --as-of 2025-06-15 < answers.json\n  \
lumbar triage evaluate --questionnaire follow-up --standing standing.json < follow-up.json\n  \
lumbar triage evaluate < answers.json | jq '.disposition, [.findings[].rule_id]'"
    )]
    Evaluate(EvaluateArgs),
}

#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
#[command(next_help_heading = "Evaluation")]
pub struct EvaluateArgs {
    /// Red-flag rule file (TOML) to evaluate with, instead of LUMBAR_RULES_FILE or the embedded
    /// rule set v2.
    #[arg(long, value_name = "FILE")]
    pub rules: Option<PathBuf>,
    /// The date to evaluate on, as YYYY-MM-DD: ages and symptom days are counted to it.
    /// Default: today in the clinic's time zone (LUMBAR_TIME_ZONE).
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    pub as_of: Option<chrono::NaiveDate>,
    /// Id of the questionnaire the answers are for.
    #[arg(long, value_name = "ID", default_value = "intake")]
    pub questionnaire: String,
    /// The patient's standing facts for a follow-up: a JSON file mapping linkIds
    /// (date_of_birth, sex, cancer_history, …) to answers as in an intake. Without it every
    /// standing fact is unknown.
    #[arg(long, value_name = "FILE")]
    pub standing: Option<PathBuf>,
}

fn parse_date(raw: &str) -> Result<chrono::NaiveDate, String> {
    chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .map_err(|_| "expected a date as YYYY-MM-DD, such as 2025-06-15".to_owned())
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
    if command == Command::Serve
        && let Err(line) = cli.config.check_public_base_url()
    {
        eprintln!("lumbar: {line}");
        return ExitCode::from(2);
    }
    // These need neither a database nor logging (which would go to stdout, among the JSON).
    match &command {
        Command::Openapi => {
            println!("{}", app::openapi_json());
            return ExitCode::SUCCESS;
        }
        Command::Triage(TriageCommand::Evaluate(args)) => {
            return triage_evaluate(&cli.config, args);
        }
        _ => {}
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
            Command::SeedDemo => seed_demo(cli.config).await,
            Command::User(UserCommand::Add(add)) => add_user(cli.config, add).await,
            Command::Openapi | Command::Triage(_) => {
                unreachable!("handled before the runtime starts")
            }
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
    // Decided before the database is opened, since opening creates the file.
    let first_start = demo::seeds_on_first_start(&config);
    let application = Application::build(config, Arc::new(SystemClock)).await?;
    // Installed before anyone can reach the service, so a SIGTERM always stops it gracefully.
    let shutdown = app::shutdown_signal();
    let address = application.local_addr();
    if first_start {
        seed_on_first_start(&application).await;
    }
    tracing::info!(%address, "lumbar is listening on http://{address} (API docs at http://{address}/docs)");
    application.run_until(shutdown).await?;
    tracing::info!("lumbar stopped");
    Ok(())
}

/// The embedded default's first start: the demo clinic, its logins on standard output. A failure
/// leaves the database empty (the seed is one transaction) and the server running.
async fn seed_on_first_start(application: &Application) {
    let state = application.state();
    let seeded = demo::seed(
        &state.db,
        state.clock.now(),
        state.config.time_zone,
        &state.triage,
    )
    .await;
    match seeded {
        Ok(logins) => {
            // Standard output, never the log: logs are collected and kept, passwords must not be.
            println!(
                "\nFirst start on a new embedded database ({}): Lumbar seeded a demo clinic.\n{}\
                 Lost the passwords? Stop Lumbar, delete {} and start it again.\n",
                state.config.embedded_database_file().display(),
                demo::announcement(&logins, &format!("http://{}", application.local_addr())),
                state.config.data_dir.display()
            );
            tracing::info!(
                accounts = logins.logins.len(),
                "seeded the demo clinic on the first start of the embedded database; its logins \
                 are on standard output"
            );
        }
        Err(err) => tracing::warn!(
            error = format!("{err:#}"),
            "could not seed the demo clinic; the database stays empty (`lumbar seed-demo` tries again)"
        ),
    }
}

/// `lumbar seed-demo`: migrate, seed, print the logins. Refused when any account exists.
async fn seed_demo(config: Config) -> anyhow::Result<()> {
    let triage = clinical::load(
        config.questionnaire_dir.as_deref(),
        config.rules_file.as_deref(),
    )?;
    let database = config.database();
    let db = store::connect(&database, 1).await?;
    store::migrate(&db).await?;
    let seeded = demo::seed(&db, SystemClock.now(), config.time_zone, &triage).await;
    db.close().await?;
    let logins = seeded?;
    tracing::info!(
        database = %database,
        accounts = logins.logins.len(),
        "seeded the demo clinic"
    );
    println!(
        "{}\nStart the server with `cargo run --release` (or `lumbar serve` with the same \
         database settings).",
        demo::announcement(&logins, config.public_base_url().as_str())
    );
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
    let shutdown = app::shutdown_signal();
    let stop = CancellationToken::new();
    let worker = Worker::new(
        db.clone(),
        mailer,
        Arc::new(SystemClock),
        WorkerSettings::from_config(&config),
    );
    let running = tokio::spawn(worker.run(stop.clone()));
    shutdown.await;
    stop.cancel();
    running.await?;
    db.close().await?;
    Ok(())
}

/// `lumbar triage evaluate`: exit 0 with the evaluation on stdout, 2 with the per-linkId errors
/// on stdout when the answers are refused, 1 with one line on stderr when nothing could be
/// evaluated.
fn triage_evaluate(config: &Config, args: &EvaluateArgs) -> ExitCode {
    let rules_file = args.rules.as_deref().or(config.rules_file.as_deref());
    // The rules first: a broken rule file is reported before anything is typed at a terminal.
    let triage = match load_triage(config.questionnaire_dir.as_deref(), rules_file) {
        Ok(triage) => triage,
        Err(message) => return fail(&message),
    };
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprintln!(
            "lumbar: reading the answers (a JSON object) from standard input; end with Ctrl-D"
        );
    }
    let mut input = String::new();
    if let Err(err) = stdin.lock().read_to_string(&mut input) {
        return fail(&format!(
            "cannot read the answers from standard input: {err}"
        ));
    }
    let today = args.as_of.unwrap_or_else(|| {
        SystemClock
            .now()
            .with_timezone(&config.time_zone)
            .date_naive()
    });
    let standing = match args.standing.as_deref() {
        Some(path) => match read_standing(&triage, &args.questionnaire, path, today) {
            Ok(standing) => standing,
            Err(message) => return fail(&message),
        },
        None => StandingFacts::unknown(),
    };
    let (output, status) = match evaluate(&triage, &args.questionnaire, &input, &standing, today) {
        Ok(Ok(evaluation)) => (serde_json::to_string_pretty(&evaluation), ExitCode::SUCCESS),
        Ok(Err(errors)) => (
            serde_json::to_string_pretty(&RefusedAnswers { errors }),
            ExitCode::from(2),
        ),
        Err(message) => return fail(&message),
    };
    let written = output.map_err(|err| err.to_string()).and_then(|text| {
        writeln!(std::io::stdout().lock(), "{text}").map_err(|err| err.to_string())
    });
    match written {
        Ok(()) => status,
        Err(err) => fail(&format!("cannot write the result: {err}")),
    }
}

/// What `triage evaluate` prints for refused answers: the API problem's `errors` list.
#[derive(serde::Serialize)]
struct RefusedAnswers {
    errors: Vec<FieldError>,
}

fn fail(message: &str) -> ExitCode {
    eprintln!("lumbar: {message}");
    ExitCode::FAILURE
}

/// The questionnaires and rules as `serve` would load them, or one line saying why not.
fn load_triage(
    questionnaire_dir: Option<&Path>,
    rules_file: Option<&Path>,
) -> Result<Triage, String> {
    // Read here too, to name the file in the error and place TOML errors by line.
    let rules_text = match rules_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .map_err(|err| format!("cannot read the rule file {}: {err}", path.display()))?,
        ),
        None => None,
    };
    clinical::load(questionnaire_dir, rules_file).map_err(|err| {
        let line = load_error_line(&err, rules_text.as_deref());
        match rules_file.map(|path| path.display().to_string()) {
            Some(path) if !line.contains(&path) => format!("rule file {path}: {line}"),
            _ => line,
        }
    })
}

/// The standing facts in `path`, checked against the intake, or one line saying why not.
fn read_standing(
    triage: &Triage,
    questionnaire: &str,
    path: &Path,
    today: chrono::NaiveDate,
) -> Result<StandingFacts, String> {
    let declared = triage.rule_set().questionnaire_id();
    if questionnaire == declared {
        return Err(format!(
            "--standing is for a follow-up (--questionnaire follow-up): questionnaire \
             {declared:?} asks the standing facts itself"
        ));
    }
    let place = format!("in the standing facts file {}", path.display());
    let text = std::fs::read_to_string(path).map_err(|err| {
        format!(
            "cannot read the standing facts file {}: {err}",
            path.display()
        )
    })?;
    let raw = json_object(&text, &place)?;
    triage.standing_facts(&raw, today).map_err(|errors| {
        let problems: Vec<String> = errors.iter().map(ToString::to_string).collect();
        format!("the answers {place} are refused: {}", problems.join("; "))
    })
}

/// `text` as a JSON object mapping linkIds to answers; `place` says where it was read
/// ("on standard input").
fn json_object(
    text: &str,
    place: &str,
) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    if text.trim().is_empty() {
        return Err(format!(
            "no answers {place}: expected a JSON object mapping each linkId to its answer"
        ));
    }
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(answers)) => Ok(answers),
        Ok(other) => {
            let kind = match other {
                serde_json::Value::Array(_) => "an array",
                serde_json::Value::String(_) => "a string",
                serde_json::Value::Number(_) => "a number",
                serde_json::Value::Bool(_) => "a boolean",
                _ => "null",
            };
            Err(format!(
                "the answers {place} must be a JSON object mapping each linkId to its answer, not \
                 {kind}"
            ))
        }
        Err(err) => Err(format!("the answers {place} are not valid JSON: {err}")),
    }
}

/// Validates, scores and applies the rules to `input`, a JSON object of answers, with the
/// standing facts a follow-up lacks. `Ok(Err(_))` lists every problem with the answers, as the
/// API's problem `errors`.
fn evaluate(
    triage: &Triage,
    questionnaire: &str,
    input: &str,
    standing: &StandingFacts,
    today: chrono::NaiveDate,
) -> Result<Result<Evaluation, Vec<FieldError>>, String> {
    let answers = json_object(input, "on standard input")?;
    match triage.evaluate_with(questionnaire, &answers, standing, today) {
        Ok(evaluation) => Ok(Ok(evaluation)),
        Err(EvaluateError::InvalidAnswers(errors)) => {
            Ok(Err(errors.into_iter().map(FieldError::from).collect()))
        }
        Err(EvaluateError::UnknownQuestionnaire(id)) => {
            let known: Vec<&str> = triage.questionnaires().map(|q| q.id()).collect();
            Err(format!(
                "there is no questionnaire {id:?} (--questionnaire); loaded: {}",
                known.join(", ")
            ))
        }
    }
}

/// One line for a content-loading error: every cause once, lists joined with `;`, TOML syntax
/// errors placed by line and column instead of drawn.
fn load_error_line(err: &anyhow::Error, rules_text: Option<&str>) -> String {
    if let Some(RuleSetError::Toml { file, source }) = err.downcast_ref::<RuleSetError>() {
        let place = source
            .span()
            .zip(rules_text)
            .map(|(span, text)| {
                let before = text.get(..span.start).unwrap_or(text);
                let line = before.matches('\n').count() + 1;
                let column = before
                    .rsplit('\n')
                    .next()
                    .unwrap_or_default()
                    .chars()
                    .count()
                    + 1;
                format!("line {line}, column {column}: ")
            })
            .unwrap_or_default();
        return flatten(&format!(
            "{file}: not a valid rule file: {place}{}",
            source.message()
        ));
    }
    let mut line = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        // thiserror messages often quote their source already.
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    flatten(&line)
}

/// `a:\n  - b\n  - c` (how rule and questionnaire problems are listed) becomes `a: b; c`.
fn flatten(text: &str) -> String {
    text.trim_end()
        .replace(":\n  - ", ": ")
        .replace("\n  - ", "; ")
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
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
    fn triage_evaluate_takes_its_flags_and_defaults_to_the_intake() {
        let cli = Cli::try_parse_from(["lumbar", "triage", "evaluate"]).unwrap();
        let Some(Command::Triage(TriageCommand::Evaluate(args))) = cli.command else {
            panic!("triage evaluate");
        };
        assert_eq!(args.questionnaire, "intake");
        assert_eq!((args.rules, args.as_of, args.standing), (None, None, None));

        let cli = Cli::try_parse_from([
            "lumbar",
            "triage",
            "evaluate",
            "--rules",
            "new.toml",
            "--as-of",
            "2025-06-15",
            "--questionnaire",
            "follow-up",
            "--standing",
            "intake.json",
        ])
        .unwrap();
        let Some(Command::Triage(TriageCommand::Evaluate(args))) = cli.command else {
            panic!("triage evaluate");
        };
        assert_eq!(args.rules, Some(PathBuf::from("new.toml")));
        assert_eq!(args.as_of, chrono::NaiveDate::from_ymd_opt(2025, 6, 15));
        assert_eq!(args.questionnaire, "follow-up");
        assert_eq!(args.standing, Some(PathBuf::from("intake.json")));

        let line = invalid_setting_line(&parse_error(&[
            "lumbar",
            "triage",
            "evaluate",
            "--as-of",
            "2025-02-30",
        ]));
        assert!(line.contains("--as-of `2025-02-30`"), "{line}");
    }

    #[test]
    fn problem_lists_become_one_line() {
        assert_eq!(
            flatten("rule set v1: the rule set is invalid:\n  - rule A: bad\n  - rule B: worse\n"),
            "rule set v1: the rule set is invalid: rule A: bad; rule B: worse"
        );
    }

    #[test]
    fn evaluate_separates_refused_answers_from_unusable_input() {
        let triage = Triage::embedded().unwrap();
        let today = chrono::NaiveDate::from_ymd_opt(2025, 6, 15).unwrap();
        let none = StandingFacts::unknown();
        let refused = evaluate(&triage, "intake", r#"{"pain_now": 11}"#, &none, today)
            .unwrap()
            .unwrap_err();
        assert!(
            refused
                .iter()
                .any(|error| error.field == "pain_now" && error.code == "out_of_range"),
            "{refused:?}"
        );
        for input in ["", "null", "[]", "{"] {
            assert!(
                evaluate(&triage, "intake", input, &none, today).is_err(),
                "{input:?}"
            );
        }
        let message = evaluate(&triage, "knee", "{}", &none, today).unwrap_err();
        assert!(message.contains("follow-up, intake"), "{message}");
    }

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
