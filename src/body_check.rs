//! Every problem with a request body, named by field.
//!
//! poem-openapi stops at the first field it cannot read and says neither which field nor what
//! would be valid (`expected type "string", found null`). When it refuses a body, the edge
//! checks the same body against the operation's own schema from the OpenAPI document (the one
//! served at `/openapi.json`, so the check and the description cannot drift apart) and lists
//! every problem: the field's path, a stable code, and what would be accepted (for an enum, its
//! values). Only the schema keywords Lumbar's document uses are read.

use std::collections::HashMap;

use poem::http::Method;
use regex::Regex;
use serde_json::{Map, Value};

use crate::{api::types::TextRule, error::FieldError};

/// Request body schemas by operation, resolved against the document's components.
#[derive(Debug, Default)]
pub struct BodySchemas {
    /// `(method, path template segments)` → the body's schema.
    operations: Vec<(Method, Vec<Option<String>>, Value)>,
    components: Map<String, Value>,
    patterns: HashMap<String, Option<Regex>>,
}

impl BodySchemas {
    /// Reads the request body schema of every operation in an OpenAPI document.
    pub fn from_spec(spec: &str) -> Self {
        let Ok(spec) = serde_json::from_str::<Value>(spec) else {
            return Self::default();
        };
        let components = spec["components"]["schemas"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let mut operations = Vec::new();
        let mut pattern_texts = Vec::new();
        if let Some(paths) = spec["paths"].as_object() {
            for (template, methods) in paths {
                let Some(methods) = methods.as_object() else {
                    continue;
                };
                for (method, operation) in methods {
                    // poem-openapi names the media type `application/json; charset=utf-8`.
                    let json_body = operation["requestBody"]["content"]
                        .as_object()
                        .and_then(|content| {
                            content
                                .iter()
                                .find(|(media, _)| media.starts_with("application/json"))
                        })
                        .map(|(_, media)| &media["schema"]);
                    let Some(schema) = json_body else {
                        continue;
                    };
                    let Ok(method) = method.to_ascii_uppercase().parse::<Method>() else {
                        continue;
                    };
                    if schema.is_null() {
                        continue;
                    }
                    operations.push((method, segments(template), schema.clone()));
                }
            }
        }
        collect_patterns(&Value::Object(components.clone()), &mut pattern_texts);
        for (_, _, schema) in &operations {
            collect_patterns(schema, &mut pattern_texts);
        }
        let patterns = pattern_texts
            .into_iter()
            .map(|text| {
                let compiled = Regex::new(&text).ok();
                (text, compiled)
            })
            .collect();
        Self {
            operations,
            components,
            patterns,
        }
    }

    /// Every problem with `body` for the operation at `method` and `path`; empty when the
    /// operation is unknown or nothing is found.
    pub fn check(&self, method: &Method, path: &str, body: &Value) -> Vec<FieldError> {
        let requested: Vec<&str> = path.split('/').collect();
        let Some((_, _, schema)) = self.operations.iter().find(|(known, segments, _)| {
            known == method
                && segments.len() == requested.len()
                && segments
                    .iter()
                    .zip(&requested)
                    .all(|(segment, part)| match segment {
                        None => !part.is_empty(),
                        Some(literal) => literal == part,
                    })
        }) else {
            return Vec::new();
        };
        let mut found = Vec::new();
        self.value(schema, body, "", &mut found);
        found
    }

    fn resolve<'a>(&'a self, schema: &'a Value) -> &'a Value {
        match schema["$ref"].as_str() {
            Some(reference) => reference
                .strip_prefix("#/components/schemas/")
                .and_then(|name| self.components.get(name))
                .unwrap_or(&Value::Null),
            None => schema,
        }
    }

    fn value(&self, schema: &Value, value: &Value, field: &str, found: &mut Vec<FieldError>) {
        let nullable = schema["nullable"] == Value::Bool(true);
        let schema = self.resolve(schema);
        if value.is_null() && (nullable || schema["nullable"] == Value::Bool(true)) {
            return;
        }
        if let Some(all) = schema["allOf"].as_array() {
            for part in all {
                self.value(part, value, field, found);
            }
            return;
        }
        if let Some(options) = schema["oneOf"].as_array().or(schema["anyOf"].as_array()) {
            let mut first = None;
            for option in options {
                let mut problems = Vec::new();
                self.value(option, value, field, &mut problems);
                if problems.is_empty() {
                    return;
                }
                first.get_or_insert(problems);
            }
            found.extend(first.unwrap_or_default());
            return;
        }
        if let Some(allowed) = schema["enum"].as_array()
            && !allowed.contains(value)
        {
            let names: Vec<String> = allowed.iter().map(plain).collect();
            found.push(problem(
                field,
                "not_allowed",
                format!("expected one of {}, not {}", names.join(", "), plain(value)),
            ));
            return;
        }
        match schema["type"].as_str() {
            Some("object") => self.object(schema, value, field, found),
            Some("array") => self.array(schema, value, field, found),
            Some("string") => self.string(schema, value, field, found),
            Some(kind @ ("integer" | "number")) => number(schema, kind, value, field, found),
            Some("boolean") if !value.is_boolean() => {
                found.push(wrong_type(field, "true or false", value));
            }
            _ => {}
        }
    }

    fn object(&self, schema: &Value, value: &Value, field: &str, found: &mut Vec<FieldError>) {
        let Some(object) = value.as_object() else {
            found.push(wrong_type(field, "an object", value));
            return;
        };
        let properties = schema["properties"].as_object();
        for name in schema["required"].as_array().into_iter().flatten() {
            if let Some(name) = name.as_str()
                && !object.contains_key(name)
            {
                found.push(problem(
                    &join(field, name),
                    "required",
                    "is required".into(),
                ));
            }
        }
        for (name, item) in object {
            let path = join(field, name);
            match properties.and_then(|properties| properties.get(name)) {
                Some(property) => self.value(property, item, &path, found),
                None => match &schema["additionalProperties"] {
                    Value::Bool(false) => {
                        found.push(problem(
                            &path,
                            "unknown_field",
                            "is not a known field".into(),
                        ));
                    }
                    Value::Object(_) => {
                        self.value(&schema["additionalProperties"], item, &path, found);
                    }
                    _ => {}
                },
            }
        }
    }

    fn array(&self, schema: &Value, value: &Value, field: &str, found: &mut Vec<FieldError>) {
        let Some(items) = value.as_array() else {
            found.push(wrong_type(field, "a list", value));
            return;
        };
        if let Some(most) = schema["maxItems"].as_u64()
            && items.len() as u64 > most
        {
            found.push(problem(
                field,
                "too_many",
                format!("expected at most {most} items, not {}", items.len()),
            ));
        }
        if let Some(least) = schema["minItems"].as_u64()
            && (items.len() as u64) < least
        {
            found.push(problem(
                field,
                "too_few",
                format!("expected at least {least} items, not {}", items.len()),
            ));
        }
        for (index, item) in items.iter().enumerate() {
            self.value(&schema["items"], item, &format!("{field}[{index}]"), found);
        }
    }

    fn string(&self, schema: &Value, value: &Value, field: &str, found: &mut Vec<FieldError>) {
        let Some(text) = value.as_str() else {
            found.push(wrong_type(field, "a string", value));
            return;
        };
        let length = text.chars().count() as u64;
        if let Some(least) = schema["minLength"].as_u64()
            && length < least
        {
            found.push(problem(
                field,
                "too_short",
                format!("expected at least {least} characters, not {length}"),
            ));
            return;
        }
        if let Some(most) = schema["maxLength"].as_u64()
            && length > most
        {
            found.push(problem(
                field,
                "too_long",
                format!("expected at most {most} characters, not {length}"),
            ));
        }
        if let Some(pattern) = schema["pattern"].as_str() {
            // The edge types' own patterns are explained as the edge type would: which character
            // is refused, or that the text is blank.
            if let Some(rule) = TextRule::for_pattern(pattern) {
                if let Some((code, message)) = rule.problem(text) {
                    found.push(problem(field, code, message));
                }
            } else if let Some(Some(regex)) = self.patterns.get(pattern)
                && !regex.is_match(text)
            {
                let message = format!("does not have the expected form ({pattern})");
                found.push(problem(field, "invalid_format", message));
            }
        }
        if let Some(format) = schema["format"].as_str()
            && let Some(expected) = format_problem(format, text)
        {
            found.push(problem(field, "invalid_format", expected.into()));
        }
    }
}

/// What a string of a known `format` should look like, when `text` is not that.
fn format_problem(format: &str, text: &str) -> Option<&'static str> {
    let valid = match format {
        "date" => text.len() == 10 && chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").is_ok(),
        "date-time" => chrono::DateTime::parse_from_rfc3339(text).is_ok(),
        "uuid" => uuid::Uuid::parse_str(text).is_ok(),
        "email" => text
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.')),
        _ => true,
    };
    (!valid).then_some(match format {
        "date" => "expected a date as YYYY-MM-DD, such as 1984-06-01",
        "date-time" => "expected a date and time in RFC 3339, such as 2026-03-02T09:00:00Z",
        "uuid" => "expected a UUID, such as 01936f4e-8b7a-7c3e-9d2a-5b1c0e4f6a7d",
        _ => "expected an email address, such as name@example.org",
    })
}

fn number(schema: &Value, kind: &str, value: &Value, field: &str, found: &mut Vec<FieldError>) {
    let Some(number) = value.as_f64() else {
        found.push(wrong_type(field, "a number", value));
        return;
    };
    if kind == "integer" && !(value.is_i64() || value.is_u64()) {
        found.push(wrong_type(field, "a whole number", value));
        return;
    }
    let below = schema["minimum"].as_f64().filter(|least| number < *least);
    let above = schema["maximum"].as_f64().filter(|most| number > *most);
    if below.is_some() || above.is_some() {
        let range = match (schema["minimum"].as_f64(), schema["maximum"].as_f64()) {
            (Some(least), Some(most)) => format!("from {least} to {most}"),
            (Some(least), None) => format!("at least {least}"),
            (None, Some(most)) => format!("at most {most}"),
            (None, None) => String::new(),
        };
        found.push(problem(
            field,
            "out_of_range",
            format!("expected a number {range}, not {number}"),
        ));
    }
}

fn problem(field: &str, code: &str, message: String) -> FieldError {
    FieldError {
        field: if field.is_empty() {
            "body".into()
        } else {
            field.into()
        },
        code: code.into(),
        message,
    }
}

fn wrong_type(field: &str, expected: &str, value: &Value) -> FieldError {
    problem(
        field,
        "wrong_type",
        format!("expected {expected}, not {}", kind_of(value)),
    )
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "true or false",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// A value as a person reads it in a message: strings without JSON quotes.
fn plain(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn join(field: &str, name: &str) -> String {
    if field.is_empty() {
        name.to_owned()
    } else {
        format!("{field}.{name}")
    }
}

/// `/a/{id}` as segments; `None` for a parameter.
fn segments(template: &str) -> Vec<Option<String>> {
    template
        .split('/')
        .map(|segment| {
            (!(segment.starts_with('{') || segment.starts_with(':'))).then(|| segment.to_owned())
        })
        .collect()
}

fn collect_patterns(schema: &Value, into: &mut Vec<String>) {
    match schema {
        Value::Object(map) => {
            if let Some(Value::String(pattern)) = map.get("pattern")
                && !into.contains(pattern)
            {
                into.push(pattern.clone());
            }
            for value in map.values() {
                collect_patterns(value, into);
            }
        }
        Value::Array(items) => {
            for item in items {
                collect_patterns(item, into);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::api::types::SINGLE_LINE_NON_BLANK_PATTERN;

    fn schemas() -> BodySchemas {
        let spec = json!({
            "paths": {"/api/v1/things/{id}": {"post": {"requestBody": {"content": {"application/json; charset=utf-8": {
                "schema": {"$ref": "#/components/schemas/Thing"}
            }}}}}},
            "components": {"schemas": {
                "Thing": {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["name", "kind", "start", "born"],
                    "properties": {
                        "name": {"type": "string", "minLength": 1, "maxLength": 5, "pattern": SINGLE_LINE_NON_BLANK_PATTERN},
                        "kind": {"$ref": "#/components/schemas/Kind"},
                        "start": {"type": "string", "format": "date-time"},
                        "born": {"type": "string", "format": "date"},
                        "count": {"type": "integer", "minimum": 0, "maximum": 9},
                        "note": {"type": "string", "nullable": true},
                        "hours": {"type": "array", "items": {"type": "object", "required": ["start"],
                                  "properties": {"start": {"type": "string", "pattern": "^[0-9]{2}:[0-9]{2}$"}}}}
                    }
                },
                "Kind": {"type": "string", "enum": ["chiropractic", "physiotherapy"]}
            }}
        });
        BodySchemas::from_spec(&spec.to_string())
    }

    fn check(body: Value) -> Vec<(String, String)> {
        schemas()
            .check(&Method::POST, "/api/v1/things/42", &body)
            .into_iter()
            .map(|error| (error.field, error.code))
            .collect()
    }

    #[test]
    fn every_problem_is_listed_by_field() {
        let found = check(json!({
            "name": "   ", "kind": "massage", "start": "2026-03-", "count": 12,
            "note": null, "hours": [{"start": "9am"}, {}], "is_admin": true
        }));
        let expected = [
            ("born", "required"),
            ("count", "out_of_range"),
            ("hours[0].start", "invalid_format"),
            ("hours[1].start", "required"),
            ("is_admin", "unknown_field"),
            ("kind", "not_allowed"),
            ("name", "invalid_format"),
            ("start", "invalid_format"),
        ];
        let mut found = found;
        found.sort();
        assert_eq!(
            found,
            expected
                .iter()
                .map(|(field, code)| (field.to_string(), code.to_string()))
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_null_names_its_field_and_an_enum_lists_its_values() {
        let errors = schemas().check(
            &Method::POST,
            "/api/v1/things/1",
            &json!({"name": null, "kind": "x", "start": "2026-03-02T09:00:00Z", "born": "1984-2-1"}),
        );
        let name = errors.iter().find(|error| error.field == "name").unwrap();
        assert_eq!(name.code, "wrong_type");
        assert_eq!(name.message, "expected a string, not null");
        let kind = errors.iter().find(|error| error.field == "kind").unwrap();
        assert_eq!(
            kind.message,
            "expected one of chiropractic, physiotherapy, not x"
        );
        let born = errors.iter().find(|error| error.field == "born").unwrap();
        assert!(born.message.contains("YYYY-MM-DD"), "{}", born.message);
    }

    #[test]
    fn a_valid_body_or_an_unknown_operation_has_no_problems() {
        assert!(
            check(json!({"name": "Ada", "kind": "chiropractic", "start": "2026-03-02T09:00:00Z", "born": "1984-06-01"}))
                .is_empty()
        );
        assert!(
            schemas()
                .check(&Method::GET, "/api/v1/things/1", &json!({}))
                .is_empty()
        );
        assert!(
            schemas()
                .check(&Method::POST, "/elsewhere", &json!({}))
                .is_empty()
        );
        assert_eq!(
            check(json!([1, 2])),
            vec![("body".into(), "wrong_type".into())]
        );
    }
}
