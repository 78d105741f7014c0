//! Request types shared by every area of the API.

use std::borrow::Cow;

use chrono::NaiveDate;
use poem_openapi::{
    registry::{MetaSchema, MetaSchemaRef},
    types::{ParseError, ParseFromJSON, ParseFromParameter, ParseResult, ToJSON, Type},
};
use serde_json::Value;

/// A JSON string, and only a string. poem-openapi's `String` also accepts numbers and booleans
/// (turning `123` into `"123"`), which would let a body that breaks the schema through; every
/// string field of a request body uses `Text` instead.
///
/// A field that must not be blank carries the pattern
/// `[^ \t\n\x0B\f\r\x1C-\x1F\u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000\uFEFF]`
/// (some character that no regex engine calls white space) rather than `\S`: Rust's regex (which
/// checks the request), ECMAScript and Python (which clients and fuzzers use to read the schema)
/// disagree on what `\s` covers, e.g. U+0085, U+FEFF and U+001C.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Text(pub String);

impl Text {
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
        String::schema_ref()
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
            Some(Value::String(text)) => Ok(Self(text)),
            other => Err(ParseError::expected_type(other.unwrap_or_default())),
        }
    }
}

impl ToJSON for Text {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.0.clone()))
    }
}

/// Characters no regex engine disagrees about being white space (see [`Text`]).
const BLANK: &[char] = &[
    ' ', '\t', '\n', '\x0B', '\x0C', '\r', '\x1C', '\x1D', '\x1E', '\x1F', '\u{0085}', '\u{00A0}',
    '\u{1680}', '\u{2000}', '\u{2001}', '\u{2002}', '\u{2003}', '\u{2004}', '\u{2005}', '\u{2006}',
    '\u{2007}', '\u{2008}', '\u{2009}', '\u{200A}', '\u{2028}', '\u{2029}', '\u{202F}', '\u{205F}',
    '\u{3000}', '\u{FEFF}',
];

/// The schema's pattern for "some character that is not [`BLANK`]".
pub const NOT_BLANK_PATTERN: &str =
    r"[^ \t\n\x0B\f\r\x1C-\x1F\u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000\uFEFF]";

/// A JSON string of 1 to `MAX` characters that is not blank: names, addresses, reasons and
/// notes. The schema says so (`minLength`, `maxLength` and a `pattern` every engine reads the
/// same way), and parsing checks the same without a regex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NonBlank<const MAX: usize>(String);

impl<const MAX: usize> NonBlank<MAX> {
    fn parse(text: String) -> ParseResult<Self> {
        let length = text.chars().count();
        if length == 0 || length > MAX {
            return Err(ParseError::custom(format!(
                "expected 1 to {MAX} characters, not {length}"
            )));
        }
        if text.chars().all(|c| BLANK.contains(&c)) {
            return Err(ParseError::custom(
                "expected some text, not only white space",
            ));
        }
        Ok(Self(text))
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

impl<const MAX: usize> Type for NonBlank<MAX> {
    const IS_REQUIRED: bool = true;
    type RawValueType = String;
    type RawElementValueType = String;

    fn name() -> Cow<'static, str> {
        format!("string_non_blank_{MAX}").into()
    }

    fn schema_ref() -> MetaSchemaRef {
        let mut schema = MetaSchema::new("string");
        schema.min_length = Some(1);
        schema.max_length = Some(MAX);
        schema.pattern = Some(NOT_BLANK_PATTERN.to_owned());
        MetaSchemaRef::Inline(Box::new(schema))
    }

    fn as_raw_value(&self) -> Option<&String> {
        Some(&self.0)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a String> + 'a> {
        Box::new(std::iter::once(&self.0))
    }
}

impl<const MAX: usize> ParseFromJSON for NonBlank<MAX> {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value {
            Some(Value::String(text)) => Self::parse(text),
            other => Err(ParseError::expected_type(other.unwrap_or_default())),
        }
    }
}

impl<const MAX: usize> ToJSON for NonBlank<MAX> {
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

    /// The schema's pattern and the parser agree on every character the parser calls blank.
    #[test]
    fn the_pattern_names_exactly_the_blank_characters() {
        let class = NOT_BLANK_PATTERN
            .strip_prefix("[^")
            .and_then(|rest| rest.strip_suffix(']'))
            .unwrap();
        let mut listed = Vec::new();
        let escaped = |code: &str| char::from_u32(u32::from_str_radix(code, 16).unwrap()).unwrap();
        let mut rest = class;
        while !rest.is_empty() {
            let (c, tail) = match rest.as_bytes() {
                [b'\\', b'u', ..] => (escaped(&rest[2..6]), &rest[6..]),
                [b'\\', b'x', ..] => (escaped(&rest[2..4]), &rest[4..]),
                [b'\\', b't', ..] => ('\t', &rest[2..]),
                [b'\\', b'n', ..] => ('\n', &rest[2..]),
                [b'\\', b'f', ..] => ('\x0C', &rest[2..]),
                [b'\\', b'r', ..] => ('\r', &rest[2..]),
                _ => (rest.chars().next().unwrap(), &rest[1..]),
            };
            if let Some(range_end) = tail.strip_prefix('-') {
                let (end, after) = match range_end.as_bytes() {
                    [b'\\', b'u', ..] => (escaped(&range_end[2..6]), &range_end[6..]),
                    _ => (escaped(&range_end[2..4]), &range_end[4..]),
                };
                listed.extend(c..=end);
                rest = after;
            } else {
                listed.push(c);
                rest = tail;
            }
        }
        listed.sort_unstable();
        let mut blank = BLANK.to_vec();
        blank.sort_unstable();
        assert_eq!(listed, blank);
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
