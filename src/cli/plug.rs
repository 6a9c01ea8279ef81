//! How a domain's subcommands plug into `windflow`: each is a clap `Args`
//! type that says its name, what it changes (for `--read-only`) and how it
//! runs. The domain lists them ([`crate::domains::Domain::commands`]); the
//! command line is built from that list ([`super::command`]), so a new
//! domain's commands touch no central enum.

use std::process::ExitCode;

use clap::{ArgMatches, Args, FromArgMatches};

use super::CliError;
use crate::config::Config;

/// What a subcommand runs with.
pub struct Ctx<'a> {
    pub config: &'a Config,
    /// The session store's Redis (`--redis-url`, `WINDFLOW_REDIS_URL` or
    /// `[sessions] redis_url`), for the commands that reach sessions.
    pub redis_url: Option<&'a str>,
}

/// A domain's subcommand: `windflow NAME ...`.
pub trait Subcommand: Args + FromArgMatches {
    const NAME: &'static str;
    /// The one line of `windflow --help`.
    const ABOUT: &'static str;
    /// The command's name and what it changes, or `None` when it only reads.
    /// `--read-only` refuses the former before it runs.
    fn changes(&self) -> Option<(&'static str, &'static str)>;
    fn run(self, ctx: &Ctx) -> Result<ExitCode, CliError>;
}

/// A subcommand with a group of its own (`windflow scan report|image|...`):
/// the group's `Subcommand` enum, wrapped so it plugs in like any `Args`.
#[derive(Debug, Args)]
pub struct Group<S: clap::Subcommand> {
    #[command(subcommand)]
    pub command: S,
}

/// A subcommand as the domain list holds it.
#[derive(Clone, Copy)]
pub struct Command {
    pub name: &'static str,
    /// Its clap definition (arguments, help).
    pub define: fn() -> clap::Command,
    /// Parses its matches, checks read-only, runs it.
    pub run: fn(&Ctx, &ArgMatches) -> Result<ExitCode, CliError>,
}

/// The list entry for `T`.
pub const fn command<T: Subcommand>() -> Command {
    Command {
        name: T::NAME,
        define: define::<T>,
        run: run::<T>,
    }
}

fn define<T: Subcommand>() -> clap::Command {
    T::augment_args(clap::Command::new(T::NAME)).about(T::ABOUT)
}

fn run<T: Subcommand>(ctx: &Ctx, matches: &ArgMatches) -> Result<ExitCode, CliError> {
    let parsed = T::from_arg_matches(matches).map_err(|e| CliError::Usage(e.to_string()))?;
    super::read_only::check(ctx.config.read_only, parsed.changes())?;
    parsed.run(ctx)
}

/// Every domain's subcommands, in the domain list's order.
pub fn commands() -> impl Iterator<Item = &'static Command> {
    crate::domains::DOMAINS
        .iter()
        .flat_map(|d| d.commands.iter())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn every_domains_subcommands_are_on_the_command_line_once() {
        let line = crate::cli::command();
        line.clone().debug_assert();
        let own: Vec<String> = crate::cli::Cli::command()
            .get_subcommands()
            .map(|c| c.get_name().to_owned())
            .collect();
        let mut names: Vec<&str> = own.iter().map(String::as_str).collect();
        for c in commands() {
            assert!(
                line.find_subcommand(c.name).is_some(),
                "{} is not on the command line",
                c.name
            );
            names.push(c.name);
        }
        let count = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), count, "two subcommands share a name");
        // Each domain's command line is parsed and routed by its domain.
        let (cli, matches) =
            crate::cli::parse_from(["windflow", "--read-only", "isolate", "status"]).unwrap();
        assert!(cli.command.is_none() && cli.global.read_only);
        assert_eq!(matches.subcommand_name(), Some("isolate"));
    }

    #[test]
    fn read_only_refuses_a_domain_command_that_changes_state() {
        let (_, matches) =
            crate::cli::parse_from(["windflow", "anomaly", "train", "--json"]).unwrap();
        let (name, sub) = matches.subcommand().unwrap();
        let plugged = commands().find(|c| c.name == name).unwrap();
        let base = crate::config::BaseDirs {
            config: "/nonexistent/c".into(),
            data: "/nonexistent/d".into(),
            state: "/nonexistent/s".into(),
        };
        let flags = crate::config::Flags {
            read_only: true,
            ..Default::default()
        };
        let config = crate::config::Config::load(&flags, &|_: &str| None, &base).unwrap();
        let ctx = Ctx {
            config: &config,
            redis_url: None,
        };
        let err = (plugged.run)(&ctx, sub).unwrap_err();
        assert_eq!(err.code(), 3, "{err}");
        assert!(
            err.to_string()
                .contains("read-only mode: `windflow anomaly train`"),
            "{err}"
        );
    }
}
