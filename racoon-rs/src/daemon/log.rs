//! Logging in racoon's line format:
//! `[YYYY-MM-DD hh:mm:ss: ][[peer] ]LEVEL: text` — the timestamp only in a
//! log file (`-l`) or on stderr (`-F`); syslog (facility daemon) gets the
//! rest. Levels: ERROR, WARNING, NOTIFY, INFO, DEBUG, DEBUG2.
//!
//! Everything goes through `tracing`; a field named `peer` becomes the
//! `[peer] ` prefix.

use std::ffi::CString;
use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;

use super::core::LogLevel;

/// Where the lines go.
pub enum Sink {
    Stderr,
    File(std::fs::File),
    Syslog,
}

/// racoon level → tracing level.
pub fn to_tracing(l: LogLevel) -> Level {
    match l {
        LogLevel::Error => Level::ERROR,
        LogLevel::Warning => Level::WARN,
        LogLevel::Notify | LogLevel::Info => Level::INFO,
        LogLevel::Debug => Level::DEBUG,
        LogLevel::Debug2 => Level::TRACE,
    }
}

/// The racoon level for `conf`'s `log` value plus `-d` count.
pub fn effective_level(conf: conf::LogLevel, debug: u8) -> LogLevel {
    let n = (conf as u8).saturating_add(debug).clamp(1, 6);
    match n {
        1 => LogLevel::Error,
        2 => LogLevel::Warning,
        3 => LogLevel::Notify,
        4 => LogLevel::Info,
        5 => LogLevel::Debug,
        _ => LogLevel::Debug2,
    }
}

fn level_name(l: &Level) -> &'static str {
    match *l {
        Level::ERROR => "ERROR",
        Level::WARN => "WARNING",
        Level::INFO => "INFO",
        Level::DEBUG => "DEBUG",
        _ => "DEBUG2",
    }
}

/// Local time as `YYYY-MM-DD hh:mm:ss`.
pub fn local_timestamp(t: i64) -> String {
    // SAFETY: localtime_r writes only into `tm`, which we own.
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        let tt = t as libc::time_t;
        if libc::localtime_r(&tt, &mut tm).is_null() {
            return "1970-01-01 00:00:00".into();
        }
        tm
    };
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    )
}

#[derive(Default)]
struct Fields {
    message: String,
    peer: Option<String>,
    extra: String,
}

impl Visit for Fields {
    fn record_str(&mut self, f: &Field, v: &str) {
        match f.name() {
            "message" => self.message.push_str(v),
            "peer" => self.peer = Some(v.to_string()),
            n => {
                let _ = write!(self.extra, " {n}={v}");
            }
        }
    }

    fn record_debug(&mut self, f: &Field, v: &dyn std::fmt::Debug) {
        match f.name() {
            "message" => {
                let _ = write!(self.message, "{v:?}");
            }
            "peer" => self.peer = Some(format!("{v:?}")),
            n => {
                let _ = write!(self.extra, " {n}={v:?}");
            }
        }
    }
}

/// Format one line without timestamp (`[peer] LEVEL: text`).
pub fn format_line(level: &Level, peer: Option<&str>, text: &str) -> String {
    let mut s = String::new();
    if let Some(p) = peer {
        let _ = write!(s, "[{p}] ");
    }
    let _ = write!(s, "{}: {}", level_name(level), text);
    // One event is one line: a hostile string cannot forge further lines.
    s.retain(|c| c != '\n' && c != '\r');
    s.truncate(8192);
    s
}

struct RacoonLayer {
    sinks: Vec<Mutex<Sink>>,
    max: Level,
}

impl<S: Subscriber> Layer<S> for RacoonLayer {
    fn enabled(&self, meta: &tracing::Metadata<'_>, _: Context<'_, S>) -> bool {
        *meta.level() <= self.max
    }

    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let level = *event.metadata().level();
        if level > self.max {
            return;
        }
        let mut f = Fields::default();
        event.record(&mut f);
        let text = format!("{}{}", f.message, f.extra);
        let line = format_line(&level, f.peer.as_deref(), &text);
        for sink in &self.sinks {
            let Ok(mut sink) = sink.lock() else { continue };
            match &mut *sink {
                Sink::Stderr => {
                    let now = super::wall_secs();
                    let _ = writeln!(std::io::stderr(), "{}: {line}", local_timestamp(now));
                }
                Sink::File(file) => {
                    let now = super::wall_secs();
                    let _ = writeln!(file, "{}: {line}", local_timestamp(now));
                }
                Sink::Syslog => {
                    let prio = match level {
                        Level::ERROR => libc::LOG_ERR,
                        Level::WARN => libc::LOG_WARNING,
                        Level::INFO => libc::LOG_INFO,
                        _ => libc::LOG_DEBUG,
                    };
                    let bytes: Vec<u8> = line.bytes().filter(|&b| b != 0).collect();
                    if let Ok(c) = CString::new(bytes) {
                        // SAFETY: "%s" and `c` are valid NUL-terminated strings.
                        unsafe { libc::syslog(prio, c"%s".as_ptr(), c.as_ptr()) };
                    }
                }
            }
        }
    }
}

/// Install the global logger. `file`: `-l`; `foreground`: `-F` (stderr too).
/// Falls back to syslog when neither is given.
pub fn init(level: LogLevel, file: Option<&Path>, foreground: bool) -> std::io::Result<()> {
    let mut sinks = Vec::new();
    if let Some(p) = file {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)?;
        sinks.push(Mutex::new(Sink::File(f)));
    }
    if foreground {
        sinks.push(Mutex::new(Sink::Stderr));
    }
    if sinks.is_empty() {
        // SAFETY: the ident is a static NUL-terminated string.
        unsafe { libc::openlog(c"racoon".as_ptr(), libc::LOG_PID, libc::LOG_DAEMON) };
        sinks.push(Mutex::new(Sink::Syslog));
    }
    let layer = RacoonLayer {
        sinks,
        max: to_tracing(level),
    };
    let _ = tracing_subscriber::registry().with(layer).try_init();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_format() {
        assert_eq!(
            format_line(&Level::WARN, Some("192.0.2.1"), "hello"),
            "[192.0.2.1] WARNING: hello"
        );
        assert_eq!(
            format_line(&Level::INFO, None, "a\nERROR: forged"),
            "INFO: aERROR: forged"
        );
        assert_eq!(format_line(&Level::TRACE, None, "x"), "DEBUG2: x");
        let ts = local_timestamp(0);
        assert_eq!(ts.len(), 19);
        assert_eq!(&ts[4..5], "-");
        assert_eq!(&ts[13..14], ":");
    }

    #[test]
    fn levels_add_up() {
        assert_eq!(effective_level(conf::LogLevel::Info, 0), LogLevel::Info);
        assert_eq!(effective_level(conf::LogLevel::Info, 1), LogLevel::Debug);
        assert_eq!(effective_level(conf::LogLevel::Info, 9), LogLevel::Debug2);
        assert_eq!(effective_level(conf::LogLevel::Error, 0), LogLevel::Error);
    }
}
