//! racoon's command line (`-dLFp:P:f:l:vVC46` plus `--check`).
//!
//! `--check` (parse + validate + psk check, no root, starts nothing), `-C` (dump the
//! effective remotes and sainfos), `-V`, and otherwise the daemon ([`crate::daemon`]).
//!
//! Additions to racoon's flags (long options only):
//! `--pfkey-socket PATH` (the PF_KEY socket the embedded engine serves, or the
//! standalone `ipsecd`'s socket with `--no-embedded-engine`), and
//! `--log-keys-INSECURE` (write IKE and ESP keys to the log for tshark),
//! `--tun NAME` / `--no-dataplane` (the embedded engine's TUN data plane).

use clap::{ArgAction, Parser};
use std::io::Write;
use std::path::PathBuf;

/// racoon's compiled-in configuration file.
pub const DEFAULT_CONFIG: &str = "/etc/racoon/racoon.conf";

#[derive(Debug, Parser)]
#[command(
    name = "racoon",
    about = "IKEv1 key management daemon (racoon-rs)",
    disable_version_flag = true
)]
pub struct Args {
    /// Configuration file.
    #[arg(short = 'f', value_name = "FILE", default_value = DEFAULT_CONFIG)]
    pub config: PathBuf,
    /// Stay in the foreground and log to stdout too.
    #[arg(short = 'F')]
    pub foreground: bool,
    /// Raise the log level by one (repeatable).
    #[arg(short = 'd', action = ArgAction::Count)]
    pub debug: u8,
    /// Verbose packet dumps.
    #[arg(short = 'v')]
    pub verbose: bool,
    /// Log to FILE instead of syslog.
    #[arg(short = 'l', value_name = "FILE")]
    pub logfile: Option<PathBuf>,
    /// Add function names to log messages.
    #[arg(short = 'L')]
    pub log_location: bool,
    /// IKE port (overrides the configuration).
    #[arg(short = 'p', value_name = "PORT")]
    pub port: Option<u16>,
    /// NAT-T port.
    #[arg(short = 'P', value_name = "PORT")]
    pub natt_port: Option<u16>,
    /// Use IPv4 as the default address family.
    #[arg(short = '4', conflicts_with = "ipv6")]
    pub ipv4: bool,
    /// Use IPv6 as the default address family.
    #[arg(short = '6')]
    pub ipv6: bool,
    /// Print the version and compiled features, then exit.
    #[arg(short = 'V')]
    pub version: bool,
    /// Dump the parsed remote and sainfo configuration, then exit.
    #[arg(short = 'C')]
    pub dump: bool,
    /// Parse and validate the configuration (and the psk file), print diagnostics, exit
    /// 1 on any error and 0 otherwise. Needs no privileges and starts nothing.
    #[arg(long = "check")]
    pub check: bool,
    /// PF_KEY socket path [env: PFKEY_SOCKET; default: /run/racoon-rs/pfkey.sock]:
    /// served by the embedded engine, or the socket of a standalone ipsecd with
    /// --no-embedded-engine.
    #[arg(long = "pfkey-socket", value_name = "PATH")]
    pub pfkey_socket: Option<PathBuf>,
    /// Do not run the IPsec engine in-process; use a standalone ipsecd's socket.
    #[arg(long = "no-embedded-engine")]
    pub no_embedded_engine: bool,
    /// DEBUGGING ONLY, INSECURE: write every IKE encryption key (with the
    /// initiator cookie) and every ESP SA's keys to the log, so captures can
    /// be decrypted (Wireshark ikev1_decryption_table / esp_sa rows).
    #[arg(long = "log-keys-INSECURE")]
    pub log_keys_insecure: bool,
    /// TUN device of the embedded engine's data plane (created at start-up,
    /// with a routing rule and one route per outbound ipsec policy).
    #[arg(long = "tun", value_name = "NAME", default_value = "racoon0")]
    pub tun: String,
    /// Embedded engine without a data plane: PF_KEY (SAD/SPD) only, no TUN
    /// device, no routes (what the test suite uses).
    #[arg(long = "no-dataplane")]
    pub no_dataplane: bool,
}

/// Load the configuration and the psk file it names; print diagnostics to `err`.
/// Returns the configuration when there was no error.
fn check_config(args: &Args, err: &mut dyn Write) -> Option<conf::Config> {
    let parsed = match conf::load(&args.config) {
        Ok(p) => p,
        Err(d) => {
            let _ = write!(err, "{}", d.render());
            let _ = writeln!(
                err,
                "racoon: failed to parse configuration file {} ({} error(s))",
                args.config.display(),
                d.error_count()
            );
            return None;
        }
    };
    let _ = write!(err, "{}", parsed.warnings.render());
    if let Some(psk) = &parsed.config.paths.pre_shared_key {
        match conf::load_psk(std::path::Path::new(psk)) {
            Ok(_) => {}
            Err(conf::PskError::Io { path, source }) => {
                let _ = writeln!(
                    err,
                    "warning: pre-shared key file {path}: {source} (not checked)"
                );
            }
            Err(e) => {
                let _ = writeln!(err, "error: pre-shared key file: {e}");
                return None;
            }
        }
    }
    Some(parsed.config)
}

/// Run with parsed arguments; returns the process exit status.
pub fn run(args: &Args, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    if args.version {
        let _ = writeln!(
            out,
            "racoon-rs {} (racoon.conf compatible with ipsec-tools 0.8.2)",
            env!("CARGO_PKG_VERSION")
        );
        let _ = writeln!(out, "Compiled with:\n- IPv6 support\n- Dead Peer Detection\n- IKE fragmentation\n- NAT Traversal");
        return 0;
    }
    if args.check || args.dump {
        let Some(config) = check_config(args, err) else {
            return 1;
        };
        if args.dump {
            let _ = write!(out, "{}", conf::dump::remotes_and_sainfos(&config));
        } else {
            // certificates and keys are only read by the daemon; say now what it would miss
            for p in crate::daemon::creds::load_with_report(&config).1 {
                let _ = writeln!(err, "warning: {p}");
            }
            let _ = writeln!(
                out,
                "{}: configuration OK ({} remote(s), {} sainfo(s))",
                args.config.display(),
                config.remotes.len(),
                config.sainfos.len()
            );
        }
        return 0;
    }
    if let Err(e) = crate::daemon::check_root() {
        let _ = writeln!(err, "{e}");
        return 1;
    }
    let Some(config) = check_config(args, err) else {
        let _ = writeln!(err, "racoon: failed to parse configuration file.");
        return 1;
    };
    crate::daemon::run(args, config)
}

/// Parse `argv` and run; usage errors exit 1 like racoon.
pub fn main_with(argv: impl IntoIterator<Item = std::ffi::OsString>) -> i32 {
    let args = match Args::try_parse_from(argv) {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                _ => 1,
            };
        }
    };
    // Unlocked handles: the daemon's logger writes stderr from other threads.
    run(&args, &mut std::io::stdout(), &mut std::io::stderr())
}
