//! The request-level text check, before any handler runs: no control character in the path or a
//! query parameter (none of them is free text), and no U+0000 anywhere in a JSON body, keys
//! included. Fields that may not hold other control characters either say so through their
//! edge types ([`crate::api::types`]) and the answer check; this check is what holds on every
//! endpoint, including a field someone adds later as a plain `String` or an untyped map.

use percent_encoding::percent_decode_str;
use poem::http::{StatusCode, Uri};
use serde_json::Value;

use crate::{
    error::{FieldError, Problem},
    text::{Lines, refusal},
};

/// What the request's path, query string or `body` hold that no field may; `None` when clean.
pub fn problem(uri: &Uri, body: &[u8]) -> Option<Problem> {
    let parameters = address_problems(uri);
    if !parameters.is_empty() {
        return Some(listed(
            Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid_parameter",
                "Bad Request",
                None,
            ),
            "The request has invalid parameters",
            parameters,
        ));
    }
    // Malformed JSON is left to the handler's own parsing, which explains it.
    let body = serde_json::from_slice::<Value>(body).ok()?;
    let mut found = Vec::new();
    nul_fields(&body, "", &mut found);
    (!found.is_empty()).then(|| {
        listed(
            Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_body",
                "Unprocessable Content",
                None,
            ),
            "The request body does not match the schema",
            found,
        )
    })
}

/// Whether the path and query string hold no control character (the pages' check; the API's
/// is [`problem`]).
pub fn address_is_clean(uri: &Uri) -> bool {
    address_problems(uri).is_empty()
}

/// The path segment or query parameters holding a control character.
fn address_problems(uri: &Uri) -> Vec<FieldError> {
    let mut parameters = Vec::new();
    if let Some(c) = uri
        .path()
        .split('/')
        .find_map(|segment| Lines::Single.refused(&percent_decode_str(segment).decode_utf8_lossy()))
    {
        parameters.push(invalid_character("path", refusal(Lines::Single, c)));
    }
    for (name, value) in url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes()) {
        if let Some(c) = Lines::Single
            .refused(&name)
            .or(Lines::Single.refused(&value))
        {
            parameters.push(invalid_character(&name, refusal(Lines::Single, c)));
        }
    }
    parameters
}

fn listed(problem: Problem, lead: &str, errors: Vec<FieldError>) -> Problem {
    let listed: Vec<String> = errors
        .iter()
        .map(|error| format!("`{}` {}", error.field.escape_debug(), error.message))
        .collect();
    Problem {
        detail: Some(format!("{lead}: {}.", listed.join("; "))),
        errors,
        ..problem
    }
}

fn invalid_character(field: &str, message: String) -> FieldError {
    FieldError {
        field: field.to_owned(),
        code: "invalid_character".into(),
        message,
    }
}

/// Every string and key holding U+0000, by path (`answers.goals`, `intervals[0].start`).
fn nul_fields(value: &Value, field: &str, found: &mut Vec<FieldError>) {
    let nul = |text: &str| text.contains('\0');
    let message = || "expected text without U+0000 (NUL), which no field may hold".to_owned();
    match value {
        Value::String(text) if nul(text) => {
            found.push(invalid_character(
                if field.is_empty() { "body" } else { field },
                message(),
            ));
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                nul_fields(item, &format!("{field}[{index}]"), found);
            }
        }
        Value::Object(object) => {
            for (name, item) in object {
                let path = if field.is_empty() {
                    name.clone()
                } else {
                    format!("{field}.{name}")
                };
                if nul(name) {
                    found.push(invalid_character(&path, message()));
                } else {
                    nul_fields(item, &path, found);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn check(uri: &str, body: Value) -> Option<(u16, Vec<(String, String)>)> {
        let uri: Uri = uri.parse().unwrap();
        problem(&uri, body.to_string().as_bytes()).map(|problem| {
            (
                problem.status,
                problem
                    .errors
                    .into_iter()
                    .map(|error| (error.field, error.code))
                    .collect(),
            )
        })
    }

    fn named(fields: &[&str]) -> Vec<(String, String)> {
        fields
            .iter()
            .map(|field| (field.to_string(), "invalid_character".to_owned()))
            .collect()
    }

    #[test]
    fn a_nul_anywhere_in_a_body_is_named_by_its_path() {
        let body = json!({
            "email": "a\u{0}@x.org", "ok": "line\nbreak",
            "answers": {"goals": "walk\u{0}", "key\u{0}": 1},
            "intervals": [{"start": "09:00"}, {"start": "\u{0}"}]
        });
        assert_eq!(
            check("/api/v1/x", body),
            Some((
                422,
                named(&[
                    "answers.goals",
                    "answers.key\u{0}",
                    "email",
                    "intervals[1].start"
                ])
            ))
        );
        assert_eq!(
            check("/api/v1/x", json!("\u{0}")),
            Some((422, named(&["body"])))
        );
    }

    #[test]
    fn other_control_characters_in_a_body_are_left_to_each_field() {
        assert_eq!(
            check("/api/v1/x", json!({"note": "a\r\n\tb\u{7}", "n": 1})),
            None
        );
    }

    #[test]
    fn a_control_character_in_the_path_or_a_query_parameter_is_a_bad_parameter() {
        assert_eq!(
            check("/api/v1/patients?q=a%00b&limit=5&x=%0A", Value::Null),
            Some((400, named(&["q", "x"])))
        );
        assert_eq!(
            check("/api/v1/follow-ups/a%1Bb", Value::Null),
            Some((400, named(&["path"])))
        );
        assert_eq!(
            check("/api/v1/patients?q=Zo%C3%AB+O%27Brien", Value::Null),
            None
        );
    }
}
