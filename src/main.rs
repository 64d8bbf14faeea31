//! The `atende` command: `serve` (default), `migrate`, `user create`, `secrets rotate`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use secrecy::SecretString;

use atende::accounts::{self, NewUser, PasswordHasher};
use atende::app::{open_store, Application};
use atende::config::Settings;
use atende::domain::Role;

#[derive(Parser)]
#[command(
    name = "atende",
    version,
    about = "Conversation engine for contact centers"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the engine (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print the OpenAPI document (the console's API types are generated from it:
    /// `atende openapi > web/src/api/openapi.json`).
    Openapi,
    /// Manage staff users.
    User {
        #[command(subcommand)]
        action: UserAction,
    },
    /// Manage sealed secrets.
    Secrets {
        #[command(subcommand)]
        action: SecretsAction,
    },
    /// Internal: the server's PDF extraction child (a PDF on stdin, its text on stdout).
    #[command(name = "extract-pdf", hide = true)]
    ExtractPdf,
}

#[derive(Subcommand)]
enum UserAction {
    /// Create a user (and its tenant when missing).
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        email: String,
        /// Prefer ATENDE_USER_PASSWORD: command lines are visible to other local users.
        #[arg(long, env = "ATENDE_USER_PASSWORD", hide_env_values = true)]
        password: SecretString,
        #[arg(long, value_parser = parse_role)]
        role: Role,
        #[arg(long, default_value = "")]
        name: String,
    },
}

#[derive(Subcommand)]
enum SecretsAction {
    /// Re-seal every stored secret with `secrets.encryption_key` (after a key change, with the
    /// old key in `secrets.previous_encryption_keys`). Safe to run again.
    Rotate,
}

fn parse_role(raw: &str) -> Result<Role, String> {
    Role::parse(raw).ok_or_else(|| format!("`{raw}` is not a role (admin, supervisor, agent)"))
}

#[actix_web::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if matches!(cli.command, Some(Command::ExtractPdf)) {
        // Needs no configuration: the server starts it with limits and only pipes.
        let code = atende::knowledge::extract_child::run_child();
        return ExitCode::from(u8::try_from(code).unwrap_or(1));
    }
    let settings = match Settings::load() {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("atende: {e}");
            return ExitCode::from(2);
        }
    };
    atende::telemetry::init(&settings.log);
    match run(cli.command.unwrap_or(Command::Serve), settings).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "atende stopped");
            eprintln!("atende: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, settings: Settings) -> anyhow::Result<()> {
    match command {
        Command::Serve => {
            let app = Application::build(settings).await?;
            app.run_until_signalled().await?;
        }
        Command::Openapi => {
            use std::io::Write;
            std::io::stdout().write_all(atende::api::openapi::document_json().as_bytes())?;
        }
        Command::ExtractPdf => {
            std::process::exit(atende::knowledge::extract_child::run_child());
        }
        Command::Migrate => {
            open_store(&settings).await?;
            println!("migrations are up to date");
        }
        Command::Secrets {
            action: SecretsAction::Rotate,
        } => {
            let store = open_store(&settings).await?;
            let secrets = atende::secrets::SecretBox::from_settings(&settings.secrets);
            let report = store
                .run(move |conn| atende::store::sealed::rotate(conn, &secrets))
                .await?;
            println!(
                "re-sealed {} of {} sealed values with the current key",
                report.resealed, report.examined
            );
        }
        Command::User {
            action:
                UserAction::Create {
                    tenant,
                    email,
                    password,
                    role,
                    name,
                },
        } => {
            use secrecy::ExposeSecret;
            let store = open_store(&settings).await?;
            let hasher = PasswordHasher::new(&settings.auth)?;
            let tenant = accounts::ensure_tenant(&store, &tenant).await?;
            let name = if name.trim().is_empty() {
                email.split('@').next().unwrap_or("user").to_string()
            } else {
                name
            };
            let user = accounts::create_user(
                &store,
                &hasher,
                NewUser {
                    tenant_id: tenant.id,
                    name,
                    email,
                    password: password.expose_secret().to_string(),
                    role,
                    max_conversations: 10,
                    specialties: vec![],
                    department_ids: vec![],
                    available: true,
                },
            )
            .await?;
            println!(
                "created user {} ({}) in tenant {}",
                user.id, user.email, tenant.slug
            );
        }
    }
    Ok(())
}
