//! How output looks: the one decision about colour and live displays
//! (progress bars, spinners) that `qemu`, `ci` and `size-check` share.
//!
//! Both need a terminal whose `TERM` is not `dumb` (a dumb terminal has no
//! cursor movement and no colour, see terminfo(5)); colour is also off when
//! `NO_COLOR` is set and non-empty (no-color.org).

use std::ffi::OsStr;
use std::io::IsTerminal;

/// What the terminal on stdout (and stderr) can show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Look {
    /// ANSI colours and bold.
    pub color: bool,
    /// Redrawn lines: indicatif bars and spinners.
    pub live: bool,
}

impl Look {
    /// The look of stdout; `live` also needs stderr on a terminal, where
    /// indicatif draws.
    pub fn detect() -> Self {
        let stdout = std::io::stdout().is_terminal();
        let out = Self::from_env(stdout);
        Self {
            live: out.live && stdout && std::io::stderr().is_terminal(),
            ..out
        }
    }

    /// [`Look::decide`] for a stream that is a terminal (`tty`), with this
    /// process's `NO_COLOR` and `TERM`.
    fn from_env(tty: bool) -> Self {
        let no_color = std::env::var_os("NO_COLOR");
        let term = std::env::var_os("TERM");
        Self::decide(tty, no_color.as_deref(), term.as_deref())
    }

    /// The rule, for a stream that is a terminal (`tty`) and the values of
    /// `NO_COLOR` and `TERM`.
    pub fn decide(tty: bool, no_color: Option<&OsStr>, term: Option<&OsStr>) -> Self {
        let capable = tty && term.is_none_or(|t| t != "dumb");
        Self {
            color: capable && no_color.is_none_or(|v| v.is_empty()),
            live: capable,
        }
    }
}

/// cargo's `--color` for the builds xtask runs, whose diagnostics go to
/// the same stderr: `never` where [`Look`] forbids colour there (a dumb
/// terminal, `NO_COLOR`), else cargo's own `auto`. Cargo alone would colour
/// a dumb terminal when `CI` is set.
pub fn cargo_color() -> &'static str {
    if Look::from_env(std::io::stderr().is_terminal()).color {
        "auto"
    } else {
        "never"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dumb_terminals_and_no_color_get_plain_output() {
        let os = |s: &'static str| Some(OsStr::new(s));
        let look = |tty, no_color, term| Look::decide(tty, no_color, term);
        let full = Look {
            color: true,
            live: true,
        };
        let plain = Look {
            color: false,
            live: false,
        };
        assert_eq!(look(true, None, os("xterm-256color")), full);
        assert_eq!(look(true, os(""), None), full);
        assert_eq!(look(true, None, os("dumb")), plain);
        assert_eq!(look(false, None, os("xterm")), plain);
        assert_eq!(
            look(true, os("1"), os("xterm")),
            Look {
                color: false,
                live: true
            }
        );
    }
}
