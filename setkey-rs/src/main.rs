//! `setkey`: manipulate the IPsec SA/SP databases over PF_KEY.
//!
//! Exit status: 0 on success; 1 for usage, syntax and validation errors (as
//! ipsec-tools setkey); **2 when the engine rejected at least one command**
//! (ipsec-tools exits 0 there — a documented deviation so scripts can notice).

use clap::{ArgAction, Parser};
use setkey_rs::dump::SystemClock;
use setkey_rs::parser::Supported;
use setkey_rs::resolve::SystemResolver;
use setkey_rs::run::{self, Opts, Runner, ScriptEnd, SocketTransport, Transport};
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "setkey",
    disable_help_flag = true,
    disable_version_flag = true,
    about = "manipulate the IPsec SA/SP database"
)]
struct Cli {
    /// -D also shows DEAD SAs
    #[arg(short = 'a')]
    all: bool,
    /// read commands from standard input
    #[arg(short = 'c')]
    stdin: bool,
    /// (accepted by getopt, shows usage)
    #[arg(short = 'd')]
    debug: bool,
    /// read commands from a file
    #[arg(short = 'f', value_name = "filename")]
    file: Option<PathBuf>,
    /// hex dump messages (-x mode)
    #[arg(short = 'H')]
    hexdump: bool,
    /// usage
    #[arg(short = 'h')]
    help: bool,
    /// loop forever in short format (-D)
    #[arg(short = 'l')]
    forever: bool,
    /// no action: parse and validate only
    #[arg(short = 'n')]
    not_really: bool,
    /// print every message sent and received
    #[arg(short = 'v')]
    verbose: bool,
    /// promiscuous monitor; -xx: raw timestamps
    #[arg(short = 'x', action = ArgAction::Count)]
    promisc: u8,
    /// dump the SAD (with -P: the SPD)
    #[arg(short = 'D')]
    dump: bool,
    /// flush the SAD (with -P: the SPD)
    #[arg(short = 'F')]
    flush: bool,
    /// operate on the SPD
    #[arg(short = 'P')]
    policy: bool,
    /// print ports
    #[arg(short = 'p')]
    withports: bool,
    /// version
    #[arg(short = 'V')]
    version: bool,
    /// RFC mode: install every `in` policy also as `fwd` (default)
    #[arg(short = 'r')]
    rfc: bool,
    /// kernel mode: no automatic `fwd` policies
    #[arg(short = 'k')]
    kernel: bool,
    /// PF_KEY socket of the engine (default: $PFKEY_SOCKET, /run/racoon-rs/pfkey.sock)
    #[arg(long = "pfkey-socket", value_name = "PATH")]
    pfkey_socket: Option<PathBuf>,
    /// files of raw PF_KEY messages to pretty-print
    files: Vec<PathBuf>,
}

fn version_line() -> String {
    format!(
        "setkey @(#) racoon-rs setkey-rs {} (https://github.com/racoon-rs)\n",
        env!("CARGO_PKG_VERSION")
    )
}

fn usage(only_version: bool) -> ExitCode {
    let mut s = version_line();
    if !only_version {
        s.push_str("usage: setkey [-vrk] file ...\n");
        s.push_str("       setkey [-nvrk] -c\n");
        s.push_str("       setkey [-nvrk] -f filename\n");
        s.push_str("       setkey [-Palpvrk] -D\n");
        s.push_str("       setkey [-Pv] -F\n");
        s.push_str("       setkey [-H] -x\n");
        s.push_str("       setkey [-V] [-h]\n");
        s.push_str("       (all modes: --pfkey-socket PATH)\n");
    }
    let _ = io::stdout().write_all(s.as_bytes());
    ExitCode::from(1)
}

fn main() -> ExitCode {
    if std::env::args_os().len() <= 1 {
        return usage(false);
    }
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return usage(false);
        }
    };
    if cli.version {
        return usage(true);
    }
    if cli.help || cli.debug {
        return usage(false);
    }
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let clock = SystemClock;
    let pid = std::process::id();
    let opts = Opts {
        pid,
        script: cli.file.is_some(),
        verbose: cli.verbose,
        hexdump: cli.hexdump,
        all: cli.all,
        withports: cli.withports,
        forever: cli.forever,
        not_really: cli.not_really,
        // getopt order: the last of -r / -k wins; default RFC mode.
        rfc_mode: rk_mode(),
    };

    if !cli.files.is_empty() {
        let mut null = NullTransport;
        let mut r = Runner::new(&mut null, &mut out, &clock, opts);
        for f in &cli.files {
            let data = match read_capped(f, 32 * 1024) {
                Ok(d) if d.len() >= 16 => d,
                Ok(_) => {
                    eprintln!("setkey: {}: Invalid argument", f.display());
                    return ExitCode::from(1);
                }
                Err(e) => {
                    eprintln!("setkey: {}: {e}", f.display());
                    return ExitCode::from(1);
                }
            };
            if let Err(e) = r.fileproc(&data) {
                eprintln!("setkey: {e}");
                return ExitCode::from(1);
            }
        }
        return ExitCode::SUCCESS;
    }

    let mode_count = [
        cli.dump,
        cli.flush,
        cli.file.is_some(),
        cli.stdin,
        cli.promisc > 0,
    ]
    .iter()
    .filter(|x| **x)
    .count();
    if mode_count == 0 {
        return usage(false);
    }
    // The script must be readable before anything is sent (fopen before pfkey_open).
    let script = match &cli.file {
        Some(f) => match read_capped(f, 256 << 20) {
            Ok(d) => Some(d),
            Err(e) => {
                eprintln!("setkey: fopen: {e}");
                return ExitCode::from(1);
            }
        },
        None => None,
    };

    let path = pfkey::socket_path(cli.pfkey_socket.as_deref());
    let mut sock = match SocketTransport::connect(&path) {
        Ok(s) => Some(s),
        Err(e) => {
            if cli.not_really && (script.is_some() || cli.stdin) {
                // Deviation: -n works without an engine, with Linux's algorithm table.
                None
            } else {
                eprintln!("pfkey_open: {}: {e}", path.display());
                return ExitCode::from(1);
            }
        }
    };
    let connected = sock.is_some();
    if cli.promisc > 0 {
        if let Some(s) = sock.as_ref() {
            let _ = s.set_timeout(None);
        }
    }
    let mut null = NullTransport;
    let t: &mut dyn Transport = match sock.as_mut() {
        Some(s) => s,
        None => &mut null,
    };
    let mut r = Runner::new(t, &mut out, &clock, opts);
    let resolver = SystemResolver;

    let status = if cli.promisc > 0 {
        match r.promisc(cli.promisc, None) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("setkey: recv: {e}");
                1
            }
        }
    } else if cli.dump || cli.flush {
        let t = match (cli.dump, cli.policy) {
            (true, false) => pfkey::MsgType::DUMP,
            (true, true) => pfkey::MsgType::X_SPDDUMP,
            (false, false) => pfkey::MsgType::FLUSH,
            (false, true) => pfkey::MsgType::X_SPDFLUSH,
        };
        loop {
            if let Err(e) = r.short(t) {
                eprintln!("setkey: {e}");
                break 1;
            }
            if !cli.forever || !cli.dump {
                break if r.engine_errors > 0 { 2 } else { 0 };
            }
            std::thread::sleep(std::time::Duration::from_secs(1));
        }
    } else {
        let supported = if connected {
            match r.register() {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("setkey: {e}");
                    return ExitCode::from(1);
                }
            }
        } else {
            Supported::linux_default()
        };
        if let Some(src) = &script {
            match run::run_script(&mut r, src, &resolver, Some(&supported)) {
                Ok(ScriptEnd::Done) => {
                    if r.engine_errors > 0 {
                        2
                    } else {
                        0
                    }
                }
                Ok(ScriptEnd::Failed(_)) => 1,
                Err(e) => {
                    eprintln!("setkey: {e}");
                    1
                }
            }
        } else {
            let stdin = io::stdin();
            let mut input = stdin.lock();
            match run::run_stdin(&mut r, &mut input, &resolver, Some(&supported)) {
                Ok((0, _)) if r.engine_errors == 0 => 0,
                Ok((0, _)) => 2,
                Ok(_) => 1,
                Err(e) => {
                    eprintln!("setkey: {e}");
                    1
                }
            }
        }
    };
    let _ = io::stdout().flush();
    ExitCode::from(status)
}

/// `-r` and `-k`: the last one given wins (getopt order); default RFC mode.
fn rk_mode() -> bool {
    let mut rfc = true;
    for a in std::env::args().skip(1) {
        if a == "--" {
            break;
        }
        if a.starts_with('-') && !a.starts_with("--") {
            for c in a.chars().skip(1) {
                match c {
                    'r' => rfc = true,
                    'k' => rfc = false,
                    'f' => break, // rest is the file name
                    _ => {}
                }
            }
        }
    }
    rfc
}

fn read_capped(p: &std::path::Path, cap: u64) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let f = std::fs::File::open(p)?;
    let mut v = Vec::new();
    f.take(cap).read_to_end(&mut v)?;
    Ok(v)
}

struct NullTransport;

impl Transport for NullTransport {
    fn send(&mut self, _buf: &[u8]) -> io::Result<()> {
        Err(io::Error::new(
            io::ErrorKind::NotConnected,
            "no PF_KEY socket",
        ))
    }
    fn recv(&mut self) -> io::Result<Vec<u8>> {
        Err(io::Error::new(
            io::ErrorKind::NotConnected,
            "no PF_KEY socket",
        ))
    }
}
