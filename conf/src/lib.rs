//! racoon.conf and psk.txt parsing into typed configuration with file:line:col diagnostics.
//!
//! * [`parse`] is pure: text in, [`Config`] (plus warnings) or [`Diagnostics`] out. An
//!   `include` statement is an error there; use [`load`], which reads the file, follows
//!   `include` globs (nesting limit [`parser::MAX_INCLUDE_DEPTH`]) and reports errors in
//!   included files with their own name, line and column.
//! * [`psk::parse_psk`] / [`psk::load_psk`] read psk.txt (the loader refuses files that are
//!   group/world accessible or owned by another user, like racoon).
//! * [`diag`] holds the reusable diagnostic renderer.
//!
//! See `conf/README.md` for deviations from racoon and for the warnings given for
//! features that are parsed but not implemented.

pub mod algs;
pub mod config;
pub mod diag;
pub mod dump;
pub mod fuzzing;
pub mod lexer;
pub mod parser;
pub mod psk;

pub use config::*;
pub use diag::{Diagnostic, Diagnostics, Severity, SourceId, Sources, Span};
pub use parser::{IncludeSource, NoIncludes};
pub use psk::{load_psk, parse_psk, PskError, PskFile, PskKey};

use std::path::Path;

/// Largest configuration file read by [`load`] (each file, includes too).
pub const MAX_CONF_FILE: u64 = 64 << 20;
/// Most files `include` may pull in, in total.
pub const MAX_INCLUDED_FILES: usize = 1024;

/// A successfully parsed configuration and its warnings.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub config: Config,
    /// Only warnings (a parse with errors returns `Err`).
    pub warnings: Diagnostics,
}

/// Parse racoon.conf text. `name` is used in diagnostics. Pure: `include` is reported as an
/// error because it needs the file system (use [`load`]).
pub fn parse(src: &str, name: &str) -> Result<Parsed, Diagnostics> {
    parse_with(src, name, &mut NoIncludes)
}

/// Parse with a custom source for `include` files.
pub fn parse_with(
    src: &str,
    name: &str,
    includes: &mut dyn IncludeSource,
) -> Result<Parsed, Diagnostics> {
    let mut st = parser::State::new(includes);
    st.parse_file(name, src);
    let diags = Diagnostics {
        list: st.diags,
        sources: st.sources,
    };
    if diags.has_errors() {
        Err(diags)
    } else {
        Ok(Parsed {
            config: st.cfg,
            warnings: diags,
        })
    }
}

fn read_limited(path: &Path) -> Result<String, String> {
    use std::io::Read;
    let f = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let md = f.metadata().map_err(|e| e.to_string())?;
    if md.is_dir() {
        return Err("is a directory".into());
    }
    let mut buf = Vec::new();
    f.take(MAX_CONF_FILE + 1)
        .read_to_end(&mut buf)
        .map_err(|e| e.to_string())?;
    if buf.len() as u64 > MAX_CONF_FILE {
        return Err(format!("larger than {MAX_CONF_FILE} bytes"));
    }
    String::from_utf8(buf).map_err(|_| "not valid UTF-8 text".to_string())
}

/// Reads `include` globs from the file system.
#[derive(Debug, Default)]
pub struct FsIncludes {
    files: usize,
}

impl IncludeSource for FsIncludes {
    fn read_glob(&mut self, pattern: &str) -> Result<Vec<(String, String)>, String> {
        let expanded = match pattern.strip_prefix("~/") {
            Some(rest) => match std::env::var_os("HOME") {
                Some(h) => format!("{}/{}", h.to_string_lossy().trim_end_matches('/'), rest),
                None => pattern.to_string(),
            },
            None => pattern.to_string(),
        };
        let paths = glob::glob(&expanded).map_err(|e| format!("bad glob pattern: {}", e.msg))?;
        let mut out = Vec::new();
        for p in paths {
            let p = p.map_err(|e| e.to_string())?;
            self.files += 1;
            if self.files > MAX_INCLUDED_FILES {
                return Err(format!("more than {MAX_INCLUDED_FILES} included files"));
            }
            let name = p.display().to_string();
            let text = read_limited(&p).map_err(|e| format!("{name}: {e}"))?;
            out.push((name, text));
        }
        if out.is_empty() {
            return Err("no file matches".into());
        }
        Ok(out)
    }
}

/// Read and parse a racoon.conf file, following `include`.
pub fn load(path: &Path) -> Result<Parsed, Diagnostics> {
    let name = path.display().to_string();
    match read_limited(path) {
        Ok(text) => parse_with(&text, &name, &mut FsIncludes::default()),
        Err(e) => Err(Diagnostics {
            list: vec![Diagnostic::error_nowhere(format!("{name}: {e}"))],
            sources: Sources::new(),
        }),
    }
}
