//! A submitted form, read from the request body the edge has already read and bounded. Reading
//! never fails: a missing field is simply absent, so each page explains what it needs instead
//! of answering a parse error.

use poem::{FromRequest, Request, RequestBody};

use crate::middleware::RequestContext;

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
        Ok(Self::from_request_context(req))
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
    }

    #[test]
    fn any_body_reads_as_some_form() {
        let form = FormData::parse(b"{\"json\": true}\xff\x00");
        assert_eq!(form.text("email"), None);
    }
}
