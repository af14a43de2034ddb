//! Source files, spans and diagnostics rendered as `FILE:LINE:COL: severity: message`
//! followed by the source line and a caret line.
//!
//! This module is independent of racoon.conf: setkey-rs uses the same types for its
//! script language.

use std::fmt;

/// Index of a file in a [`Sources`] map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SourceId(pub u32);

/// A byte range in one source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Span {
    pub source: SourceId,
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(source: SourceId, start: usize, end: usize) -> Self {
        Span {
            source,
            start,
            end: end.max(start),
        }
    }
    /// The smallest span covering both (same source assumed; otherwise `self`).
    pub fn to(self, other: Span) -> Span {
        if self.source != other.source {
            return self;
        }
        Span::new(
            self.source,
            self.start.min(other.start),
            self.end.max(other.end),
        )
    }
}

/// One source text and the name it is reported under.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub name: String,
    pub text: String,
    /// Byte offsets where each line starts (line 1 at index 0).
    line_starts: Vec<usize>,
}

impl SourceFile {
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        let text = text.into();
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        SourceFile {
            name: name.into(),
            text,
            line_starts,
        }
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line_idx = match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        let start = self.line_starts[line_idx];
        let col = self
            .text
            .get(start..offset)
            .map_or(offset - start, |s| s.chars().count());
        (line_idx + 1, col + 1)
    }

    /// The text of a 1-based line, without its line terminator.
    pub fn line_text(&self, line: usize) -> &str {
        let Some(&start) = self.line_starts.get(line.wrapping_sub(1)) else {
            return "";
        };
        let end = self.line_starts.get(line).map_or(self.text.len(), |&e| e);
        self.text
            .get(start..end)
            .unwrap_or("")
            .trim_end_matches(['\n', '\r'])
    }
}

/// All files a parse read, indexed by [`SourceId`].
#[derive(Debug, Clone, Default)]
pub struct Sources {
    files: Vec<SourceFile>,
}

impl Sources {
    pub fn new() -> Self {
        Sources::default()
    }
    pub fn add(&mut self, name: impl Into<String>, text: impl Into<String>) -> SourceId {
        let id = SourceId(u32::try_from(self.files.len()).unwrap_or(u32::MAX));
        self.files.push(SourceFile::new(name, text));
        id
    }
    pub fn get(&self, id: SourceId) -> Option<&SourceFile> {
        self.files.get(id.0 as usize)
    }
    pub fn len(&self) -> usize {
        self.files.len()
    }
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
    /// `name:line:col` of a span's start.
    pub fn location(&self, span: Span) -> String {
        match self.get(span.source) {
            Some(f) => {
                let (l, c) = f.line_col(span.start);
                format!("{}:{}:{}", f.name, l, c)
            }
            None => "<unknown>".to_string(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// One message about the input, with an optional location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub span: Option<Span>,
    pub message: String,
    /// Extra located notes ("block opened here").
    pub notes: Vec<(Span, String)>,
}

impl Diagnostic {
    pub fn error(span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            span: Some(span),
            message: message.into(),
            notes: vec![],
        }
    }
    pub fn warning(span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            span: Some(span),
            message: message.into(),
            notes: vec![],
        }
    }
    /// An error with no place in any source (e.g. the top-level file is unreadable).
    pub fn error_nowhere(message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            span: None,
            message: message.into(),
            notes: vec![],
        }
    }
    pub fn with_note(mut self, span: Span, note: impl Into<String>) -> Self {
        self.notes.push((span, note.into()));
        self
    }
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Render as
    /// ```text
    /// FILE:LINE:COL: error: message
    ///     source line
    ///     ^~~~
    /// ```
    pub fn render(&self, sources: &Sources) -> String {
        let mut out = String::new();
        match self.span {
            Some(span) => {
                out.push_str(&format!(
                    "{}: {}: {}\n",
                    sources.location(span),
                    self.severity,
                    self.message
                ));
                render_snippet(&mut out, sources, span);
            }
            None => out.push_str(&format!("{}: {}\n", self.severity, self.message)),
        }
        for (span, note) in &self.notes {
            out.push_str(&format!("{}: note: {}\n", sources.location(*span), note));
            render_snippet(&mut out, sources, *span);
        }
        out
    }
}

fn render_snippet(out: &mut String, sources: &Sources, span: Span) {
    let Some(file) = sources.get(span.source) else {
        return;
    };
    let (line, col) = file.line_col(span.start);
    let text = file.line_text(line);
    out.push_str(text);
    out.push('\n');
    // Mirror tabs so the caret lines up in a terminal.
    let mut caret = String::new();
    for ch in text.chars().take(col - 1) {
        caret.push(if ch == '\t' { '\t' } else { ' ' });
    }
    let (end_line, end_col) = file.line_col(span.end);
    let width = if end_line == line && end_col > col {
        end_col - col
    } else {
        1
    };
    let line_chars = text.chars().count();
    let width = width.min(line_chars.saturating_sub(col - 1)).max(1);
    caret.push('^');
    for _ in 1..width {
        caret.push('~');
    }
    out.push_str(&caret);
    out.push('\n');
}

/// A set of diagnostics plus the sources they point into.
#[derive(Debug, Clone, Default, thiserror::Error)]
#[error("{} error(s), {} warning(s)", self.error_count(), self.warning_count())]
pub struct Diagnostics {
    pub list: Vec<Diagnostic>,
    pub sources: Sources,
}

impl Diagnostics {
    pub fn error_count(&self) -> usize {
        self.list.iter().filter(|d| d.is_error()).count()
    }
    pub fn warning_count(&self) -> usize {
        self.list.len() - self.error_count()
    }
    pub fn has_errors(&self) -> bool {
        self.list.iter().any(Diagnostic::is_error)
    }
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.list.iter().filter(|d| d.is_error())
    }
    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.list.iter().filter(|d| !d.is_error())
    }
    /// Every diagnostic rendered, in the order found.
    pub fn render(&self) -> String {
        self.list.iter().map(|d| d.render(&self.sources)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_and_caret() {
        let mut s = Sources::new();
        let id = s.add("f.conf", "ab\n\tcd efg;\n");
        let span = Span::new(id, 7, 10);
        let d = Diagnostic::error(span, "expected x");
        assert_eq!(
            d.render(&s),
            "f.conf:2:5: error: expected x\n\tcd efg;\n\t   ^~~\n"
        );
    }

    #[test]
    fn span_at_eof_and_multibyte() {
        let mut s = Sources::new();
        let id = s.add("g", "é x");
        assert_eq!(s.get(id).unwrap().line_col(3), (1, 3));
        let d = Diagnostic::warning(Span::new(id, 4, 4), "w");
        assert_eq!(d.render(&s), "g:1:4: warning: w\né x\n   ^\n");
        // Offsets beyond the text are clamped, never panic.
        let d = Diagnostic::error(Span::new(id, 99, 120), "e");
        assert!(d.render(&s).starts_with("g:1:4: error: e\n"));
    }
}
