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
