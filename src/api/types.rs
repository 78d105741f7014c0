//! Request types shared by every area of the API.

use std::borrow::Cow;

use chrono::NaiveDate;
use poem_openapi::{
    registry::{MetaSchema, MetaSchemaRef},
    types::{ParseError, ParseFromJSON, ParseFromParameter, ParseResult, ToJSON, Type},
};
use serde_json::Value;

use crate::text::Lines;

/// A JSON string, and only a string, on one line. poem-openapi's `String` also accepts numbers
/// and booleans (turning `123` into `"123"`), which would let a body that breaks the schema
/// through; every string field of a request body uses `Text` (or [`NonBlank`]) instead.
///
/// It holds no control character (see [`crate::text`]): emails, passwords, tokens, zone names
/// and reasons never need one, and PostgreSQL cannot store U+0000. The schema says so with
/// [`SINGLE_LINE_PATTERN`], unless the field states a stricter pattern of its own.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Text(pub String);

impl Text {
    fn parse(text: String) -> ParseResult<Self> {
        match Lines::Single.problem(&text) {
            Some(problem) => Err(ParseError::custom(problem)),
            None => Ok(Self(text)),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl Type for Text {
    const IS_REQUIRED: bool = true;
    type RawValueType = String;
    type RawElementValueType = String;

    fn name() -> Cow<'static, str> {
        String::name()
    }

    fn schema_ref() -> MetaSchemaRef {
        let mut schema = MetaSchema::new("string");
        schema.pattern = Some(SINGLE_LINE_PATTERN.to_owned());
        MetaSchemaRef::Inline(Box::new(schema))
    }

    fn as_raw_value(&self) -> Option<&String> {
        Some(&self.0)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a String> + 'a> {
        Box::new(std::iter::once(&self.0))
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl ParseFromJSON for Text {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value {
            Some(Value::String(text)) => Self::parse(text),
            other => Err(ParseError::expected_type(other.unwrap_or_default())),
        }
    }
}

impl ParseFromParameter for Text {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        Self::parse(value.to_owned())
    }
}

impl ToJSON for Text {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.0.clone()))
    }
}

/// Characters no regex engine disagrees about being white space (see [`NonBlank`]).
const BLANK: &[char] = &[
    ' ', '\t', '\n', '\x0B', '\x0C', '\r', '\x1C', '\x1D', '\x1E', '\x1F', '\u{0085}', '\u{00A0}',
    '\u{1680}', '\u{2000}', '\u{2001}', '\u{2002}', '\u{2003}', '\u{2004}', '\u{2005}', '\u{2006}',
    '\u{2007}', '\u{2008}', '\u{2009}', '\u{200A}', '\u{2028}', '\u{2029}', '\u{202F}', '\u{205F}',
    '\u{3000}', '\u{FEFF}',
];

// The schema's patterns, spelled with `\xHH` and `\uHHHH` only: Rust's regex (which checks the
// request), ECMAScript and Python (which clients and fuzzers use to read the schema) read those
// the same way, where they disagree on what `\s` or `\S` cover (U+0085, U+FEFF, U+001C).
macro_rules! single_line_char {
    () => {
        r"[^\x00-\x1F\x7F-\x9F]"
    };
}
macro_rules! multi_line_char {
    () => {
        r"[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]"
    };
}
/// Neither [`BLANK`] nor a control character.
macro_rules! visible_char {
    () => {
        r"[^\x00-\x20\x7F-\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000\uFEFF]"
    };
}

/// Any text on one line: no control character.
pub const SINGLE_LINE_PATTERN: &str = concat!("^", single_line_char!(), "*$");
/// One line with something visible on it.
pub const SINGLE_LINE_NON_BLANK_PATTERN: &str = concat!(
    "^",
    single_line_char!(),
    "*",
    visible_char!(),
    single_line_char!(),
    "*$"
);
/// Lines (tabs allowed) with something visible on them.
pub const MULTI_LINE_NON_BLANK_PATTERN: &str = concat!(
    "^",
    multi_line_char!(),
    "*",
    visible_char!(),
    multi_line_char!(),
    "*$"
);

/// What one of the patterns above asks of a string, for the body check to explain a refusal the
/// way the edge type would.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextRule {
    pub lines: Lines,
    pub non_blank: bool,
}

impl TextRule {
    pub fn for_pattern(pattern: &str) -> Option<Self> {
        let rule = |lines, non_blank| Some(Self { lines, non_blank });
        match pattern {
            SINGLE_LINE_PATTERN => rule(Lines::Single, false),
            SINGLE_LINE_NON_BLANK_PATTERN => rule(Lines::Single, true),
            MULTI_LINE_NON_BLANK_PATTERN => rule(Lines::Multi, true),
            _ => None,
        }
    }

    /// The problem code and message for `text`, or `None` when it follows the rule.
    pub fn problem(self, text: &str) -> Option<(&'static str, String)> {
        if let Some(problem) = self.lines.problem(text) {
            return Some(("invalid_character", problem));
        }
        (self.non_blank && text.chars().all(|c| BLANK.contains(&c))).then(|| {
            (
                "invalid_format",
                "expected some text, not only white space".to_owned(),
            )
        })
    }
}

/// A JSON string of 1 to `MAX` characters that is not blank: names, addresses and reasons on
/// one line, or (`MULTI_LINE`, see [`MultiLine`]) a note that may break lines. The schema says
/// so (`minLength`, `maxLength` and a `pattern` every engine reads the same way), and parsing
/// checks the same without a regex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NonBlank<const MAX: usize, const MULTI_LINE: bool = false>(String);

/// Non-blank text that may hold line breaks and tabs: notes.
pub type MultiLine<const MAX: usize> = NonBlank<MAX, true>;

impl<const MAX: usize, const MULTI_LINE: bool> NonBlank<MAX, MULTI_LINE> {
    const RULE: TextRule = TextRule {
        lines: if MULTI_LINE {
            Lines::Multi
        } else {
            Lines::Single
        },
        non_blank: true,
    };

    fn parse(text: String) -> ParseResult<Self> {
        let length = text.chars().count();
        if length == 0 || length > MAX {
            return Err(ParseError::custom(format!(
                "expected 1 to {MAX} characters, not {length}"
            )));
        }
        match Self::RULE.problem(&text) {
            Some((_, problem)) => Err(ParseError::custom(problem)),
            None => Ok(Self(text)),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }

    /// Without white space at either end, as it is stored.
    pub fn trimmed(&self) -> String {
        self.0.trim().to_owned()
    }
}

impl<const MAX: usize, const MULTI_LINE: bool> Type for NonBlank<MAX, MULTI_LINE> {
    const IS_REQUIRED: bool = true;
    type RawValueType = String;
    type RawElementValueType = String;

    fn name() -> Cow<'static, str> {
        if MULTI_LINE {
            format!("string_non_blank_multi_line_{MAX}").into()
        } else {
            format!("string_non_blank_{MAX}").into()
        }
    }

    fn schema_ref() -> MetaSchemaRef {
        let mut schema = MetaSchema::new("string");
        schema.min_length = Some(1);
        schema.max_length = Some(MAX);
        schema.pattern = Some(
            if MULTI_LINE {
                MULTI_LINE_NON_BLANK_PATTERN
            } else {
                SINGLE_LINE_NON_BLANK_PATTERN
            }
            .to_owned(),
        );
        MetaSchemaRef::Inline(Box::new(schema))
    }

    fn as_raw_value(&self) -> Option<&String> {
        Some(&self.0)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a String> + 'a> {
        Box::new(std::iter::once(&self.0))
    }
}

impl<const MAX: usize, const MULTI_LINE: bool> ParseFromJSON for NonBlank<MAX, MULTI_LINE> {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value {
            Some(Value::String(text)) => Self::parse(text),
            other => Err(ParseError::expected_type(other.unwrap_or_default())),
        }
    }
}

impl<const MAX: usize, const MULTI_LINE: bool> ToJSON for NonBlank<MAX, MULTI_LINE> {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.0.clone()))
    }
}

/// A calendar date, `YYYY-MM-DD`, documented as the standard `format: date` (poem-openapi's own
/// `NaiveDate` says `naive-date`, which clients and schema tools do not know).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(pub NaiveDate);

impl Date {
    fn parse(text: &str) -> ParseResult<Self> {
        // Exactly four-digit years: chrono alone would also take `+12345-01-01`.
        if text.len() != 10 {
            return Err(ParseError::custom("expected a date as YYYY-MM-DD"));
        }
        NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .map(Self)
            .map_err(|_| ParseError::custom("expected a date as YYYY-MM-DD"))
    }
}

impl Type for Date {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "string_date".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema::new_with_format("string", "date")))
    }

    fn as_raw_value(&self) -> Option<&Self> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self> + 'a> {
        Box::new(std::iter::once(self))
    }
}

impl ParseFromJSON for Date {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value {
            Some(Value::String(text)) => Self::parse(&text),
            other => Err(ParseError::expected_type(other.unwrap_or_default())),
        }
    }
}

impl ParseFromParameter for Date {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        Self::parse(value)
    }
}

impl ToJSON for Date {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.0.format("%Y-%m-%d").to_string()))
    }
}

/// Request bodies refuse unknown fields (`#[oai(deny_unknown_fields)]`), but poem-openapi does
/// not say so in the schema. This marks every object a request body refers to with
/// `additionalProperties: false`, so clients and schema-driven tests know.
pub fn close_request_schemas(spec: &str) -> String {
    let Ok(mut spec) = serde_json::from_str::<Value>(spec) else {
        return spec.to_owned();
    };
    let mut request_schemas = Vec::new();
    if let Some(paths) = spec["paths"].as_object() {
        for operation in paths
            .values()
            .filter_map(Value::as_object)
            .flat_map(|ops| ops.values())
        {
            if let Some(content) = operation["requestBody"]["content"].as_object() {
                for media in content.values() {
                    if let Some(reference) = media["schema"]["$ref"].as_str() {
                        request_schemas.push(
                            reference
                                .trim_start_matches("#/components/schemas/")
                                .to_owned(),
                        );
                    }
                }
            }
        }
    }
    for name in request_schemas {
        if let Some(schema) = spec["components"]["schemas"]
            .get_mut(&name)
            .and_then(Value::as_object_mut)
        {
            schema.insert("additionalProperties".into(), Value::Bool(false));
        }
    }
    serde_json::to_string_pretty(&spec).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_json_strings_are_text() {
        assert_eq!(
            Text::parse_from_json(Some(Value::from("a"))).unwrap(),
            Text("a".into())
        );
        for other in [
            Value::from(123),
            Value::from(true),
            Value::Null,
            serde_json::json!([]),
        ] {
            assert!(Text::parse_from_json(Some(other)).is_err());
        }
        assert!(Text::parse_from_json(None).is_err());
    }

    #[test]
    fn non_blank_text_has_a_visible_character_and_a_bounded_length() {
        let parse = |value: Value| NonBlank::<5>::parse_from_json(Some(value));
        assert_eq!(parse(Value::from(" Ada ")).unwrap().as_str(), " Ada ");
        assert_eq!(parse(Value::from("éèêëē")).unwrap().as_str(), "éèêëē");
        for bad in [
            "",
            "      ",
            "\u{0085}\u{FEFF}\u{3000}",
            "\t\r\n",
            "Adaline",
        ] {
            assert!(parse(Value::from(bad)).is_err(), "{bad:?}");
        }
        assert!(parse(Value::from(12)).is_err());
        assert!(parse(Value::Null).is_err());
    }

    /// The schema's patterns and the parsers agree on every character of the Basic
    /// Multilingual Plane, alone and between visible text.
    #[test]
    fn the_patterns_say_what_the_parsers_accept() {
        for pattern in [
            SINGLE_LINE_PATTERN,
            SINGLE_LINE_NON_BLANK_PATTERN,
            MULTI_LINE_NON_BLANK_PATTERN,
        ] {
            let regex = regex::Regex::new(pattern).unwrap();
            let rule = TextRule::for_pattern(pattern).unwrap();
            for c in (0..=0xFFFF).filter_map(char::from_u32) {
                for text in [c.to_string(), format!("a{c}b")] {
                    assert_eq!(
                        regex.is_match(&text),
                        rule.problem(&text).is_none(),
                        "{pattern} and {c:?} (U+{:04X})",
                        u32::from(c)
                    );
                }
            }
            assert_eq!(regex.is_match(""), !rule.non_blank);
        }
    }

    #[test]
    fn text_is_one_line_without_control_characters() {
        let parse = |text: &str| Text::parse_from_json(Some(Value::from(text)));
        assert!(parse("sam@clinic.example").is_ok());
        for bad in ["a\u{0}", "a\r\nb", "\t", "\u{7f}", "\u{9b}"] {
            assert!(parse(bad).is_err(), "{bad:?}");
            assert!(Text::parse_from_parameter(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_note_may_break_lines_and_a_name_may_not() {
        let note = |text: &str| MultiLine::<50>::parse_from_json(Some(Value::from(text)));
        let name = |text: &str| NonBlank::<50>::parse_from_json(Some(Value::from(text)));
        assert!(note("Seen.\r\n\tCleared.").is_ok());
        assert!(name("Seen.\r\n\tCleared.").is_err());
        for bad in ["a\u{0}", "a\u{8}", "\r\n\t"] {
            assert!(note(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn dates_are_exactly_year_month_day() {
        let date = Date::parse_from_json(Some(Value::from("1984-02-29"))).unwrap();
        assert_eq!(date.0, NaiveDate::from_ymd_opt(1984, 2, 29).unwrap());
        assert_eq!(date.to_json(), Some(Value::from("1984-02-29")));
        for bad in [
            "",
            "1985-02-29",
            "84-02-29",
            "+12345-01-01",
            "1984-2-9",
            "1984-02-29T00:00",
        ] {
            assert!(Date::parse_from_parameter(bad).is_err(), "{bad}");
        }
        assert!(Date::parse_from_json(Some(Value::from(19840229))).is_err());
    }

    #[test]
    fn request_body_schemas_are_closed_and_others_untouched() {
        let spec = serde_json::json!({
            "paths": {"/login": {"post": {"requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Login"}}}}}}},
            "components": {"schemas": {"Login": {"type": "object"}, "Me": {"type": "object"}}}
        });
        let closed: Value =
            serde_json::from_str(&close_request_schemas(&spec.to_string())).unwrap();
        assert_eq!(
            closed["components"]["schemas"]["Login"]["additionalProperties"],
            false
        );
        assert!(
            closed["components"]["schemas"]["Me"]
                .get("additionalProperties")
                .is_none()
        );
    }
}
