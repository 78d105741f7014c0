//! A submitted form, read from the request body the edge has already read and bounded. Reading
//! never fails: a missing field is simply absent, so each page explains what it needs instead
//! of answering a parse error.

use chrono::NaiveDate;
use poem::{FromRequest, Request, RequestBody, http::StatusCode};
use uuid::Uuid;

use super::render::FormErrors;
use crate::app::AppState;

use crate::{middleware::RequestContext, text::Lines};

/// A form holding a character no field may: U+0000 (PostgreSQL cannot store it) or another
/// control character than tab and line breaks. Refused whole, before any handler reads it, so
/// no page can forget the check; the error page asks the person to type the text again.
#[derive(Debug, thiserror::Error)]
#[error("the form holds a control character")]
pub struct UnreadableForm;

/// The fields of an `application/x-www-form-urlencoded` body, in order (a field may repeat,
/// as checkboxes do).
#[derive(Debug, Clone, Default)]
pub struct FormData(Vec<(String, String)>);

impl FormData {
    pub fn parse(body: &[u8]) -> Self {
        Self(
            url::form_urlencoded::parse(body)
                .map(|(name, value)| (name.into_owned(), value.into_owned()))
                .collect(),
        )
    }

    /// The first value of `name`, trimmed; `None` when absent or blank.
    pub fn text(&self, name: &str) -> Option<String> {
        self.raw(name)
            .map(str::trim)
            .filter(|value| !value.is_empty())
            .map(str::to_owned)
    }

    /// The first value of `name` exactly as sent (passwords keep their spaces).
    pub fn raw(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(field, _)| field == name)
            .map(|(_, value)| value.as_str())
    }

    /// Every value of `name`, in order.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(field, _)| field == name)
            .map(|(_, value)| value.as_str())
            .collect()
    }

    pub fn fields(&self) -> &[(String, String)] {
        &self.0
    }

    /// Whether a name or value holds a character no field may (see [`UnreadableForm`]).
    fn holds_refused_character(&self) -> bool {
        self.0.iter().any(|(name, value)| {
            Lines::Multi.refused(name).is_some() || Lines::Multi.refused(value).is_some()
        })
    }
}

/// A record's id from a page's address: one that is not an id names no page, a 404 like an
/// unknown one.
pub fn page_id(id: &str) -> poem::Result<Uuid> {
    Uuid::parse_str(id).map_err(|_| poem::Error::from_status(StatusCode::NOT_FOUND))
}

/// The day a page's `?date=YYYY-MM-DD` asks for: today on the clinic's clock when absent, and
/// today with a `date` field error when it is not a date.
pub fn day_or_today(state: &AppState, date: Option<&str>, errors: &mut FormErrors) -> NaiveDate {
    match date.map(str::trim).filter(|text| !text.is_empty()) {
        None => state.local_today(),
        Some(text) => NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap_or_else(|_| {
            errors.field("date", "Enter a date like 2026-03-04.");
            state.local_today()
        }),
    }
}

impl FormData {
    /// The form of `req`, from the body the edge read.
    pub fn from_request_context(req: &Request) -> Self {
        req.extensions()
            .get::<RequestContext>()
            .map(|context| Self::parse(context.body()))
            .unwrap_or_default()
    }
}

impl<'a> FromRequest<'a> for FormData {
    async fn from_request(req: &'a Request, _body: &mut RequestBody) -> poem::Result<Self> {
        let form = Self::from_request_context(req);
        if form.holds_refused_character() {
            return Err(poem::Error::new(
                UnreadableForm,
                StatusCode::UNPROCESSABLE_ENTITY,
            ));
        }
        Ok(form)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_decoded_trimmed_and_may_repeat() {
        let form = FormData::parse(b"email=+a%40b.org+&password=+x+y+&pick=1&pick=2&blank=++");
        assert_eq!(form.text("email").as_deref(), Some("a@b.org"));
        assert_eq!(form.raw("password"), Some(" x y "));
        assert_eq!(form.all("pick"), ["1", "2"]);
        assert_eq!(form.text("blank"), None);
        assert_eq!(form.text("missing"), None);
        assert!(!form.holds_refused_character());
    }

    #[test]
    fn a_control_character_anywhere_makes_the_form_unreadable_but_line_breaks_do_not() {
        for body in [
            &b"name=a%00b"[..],
            b"note=ok&name=%01",
            b"na%00me=x",
            b"x=%7F",
            b"x=%C2%85",
        ] {
            assert!(
                FormData::parse(body).holds_refused_character(),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        let note =
            FormData::parse(b"note=first+line%0D%0Asecond%09tabbed&name=Zo%C3%AB+%F0%9F%99%82");
        assert!(!note.holds_refused_character());
    }

    #[test]
    fn any_body_reads_as_some_form() {
        let form = FormData::parse(b"{\"json\": true}\xff\x00");
        assert_eq!(form.text("email"), None);
    }
}
