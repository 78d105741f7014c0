//! Which characters text from outside may hold. PostgreSQL `text` cannot store U+0000 at all,
//! and a control character in a name or an address travels into email headers, calendar invites
//! and logs, where a line break starts a new line. So a single-line field holds no control
//! character (Unicode `Cc`: U+0000–U+001F, U+007F–U+009F), and a multi-line field (a note, a
//! free-text answer) only tab, line feed and carriage return among them.
//!
//! Pure: the edge types, the body check, the answer check and the request-level check all ask
//! this module, so they cannot disagree.

/// Whether a field may span lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lines {
    Single,
    Multi,
}

impl Lines {
    pub fn allows(self, c: char) -> bool {
        !c.is_control() || (self == Self::Multi && matches!(c, '\t' | '\n' | '\r'))
    }

    /// The first character of `text` this kind of field may not hold.
    pub fn refused(self, text: &str) -> Option<char> {
        text.chars().find(|&c| !self.allows(c))
    }

    /// What is wrong with `text`, for a person: `None` when nothing is.
    pub fn problem(self, text: &str) -> Option<String> {
        self.refused(text).map(|c| refusal(self, c))
    }
}

/// Why `c` is refused, naming it by code point (the character itself may be invisible).
pub fn refusal(lines: Lines, c: char) -> String {
    let allowed = match lines {
        Lines::Single => "no control characters or line breaks",
        Lines::Multi => "no control characters other than line breaks and tabs",
    };
    format!("expected {allowed}, not U+{:04X}", u32::from(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_line_text_holds_no_control_character() {
        assert_eq!(Lines::Single.refused("Zoë O'Brien, \"Jr.\"; \\ 😀"), None);
        for (text, found) in [
            ("a\u{0}b", '\u{0}'),
            ("Eve\r\nATTENDEE", '\r'),
            ("tab\there", '\t'),
            ("\u{1b}[2J", '\u{1b}'),
            ("del\u{7f}", '\u{7f}'),
            ("next\u{85}line", '\u{85}'),
        ] {
            assert_eq!(Lines::Single.refused(text), Some(found), "{text:?}");
        }
    }

    #[test]
    fn multi_line_text_holds_line_breaks_and_tabs_only() {
        assert_eq!(Lines::Multi.refused("one\r\ntwo\n\tthree"), None);
        for bad in ["a\u{0}", "\u{8}", "\u{b}", "\u{c}", "\u{7f}", "\u{9f}"] {
            assert!(Lines::Multi.refused(bad).is_some(), "{bad:?}");
        }
        assert_eq!(
            Lines::Multi.problem("a\u{0}").unwrap(),
            "expected no control characters other than line breaks and tabs, not U+0000"
        );
    }
}
