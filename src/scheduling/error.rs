//! Validation errors: one per problem, each with the input field it concerns, a stable code and
//! a message, so the HTTP layer can answer 422 with a per-field list without parsing text.

use std::fmt;

use serde::Serialize;

/// Stable machine-readable reason of a [`ValidationError`]; serialised in snake_case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ValidationCode {
    /// A required text is empty or only white space.
    Required,
    /// A text is longer than allowed.
    TooLong,
    /// A number outside its allowed range (negative minutes, a horizon of 0 days, …).
    OutOfRange,
    /// A slot grid other than 5, 10, 15, 20, 30 or 60 minutes.
    InvalidSlotGrid,
    /// A duration or time of day that is not a multiple of the slot grid.
    OffGrid,
    /// Not an IANA time zone name such as `Europe/London`.
    UnknownTimeZone,
    /// Not a time of day written `HH:MM` (00:00–24:00).
    InvalidTime,
    /// An interval whose end is not after its start.
    EndNotAfterStart,
    /// Two working intervals of one location overlap on the same weekday.
    Overlapping,
    /// A working interval overlaps the same practitioner's hours at another location.
    OverlapsOtherLocation,
    /// More items than allowed (working intervals per week).
    TooMany,
    /// An availability query over more days than allowed.
    RangeTooLong,
    /// An inactive appointment type cannot be offered or booked.
    Inactive,
}

impl ValidationCode {
    /// The snake_case code, as serialised.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Required => "required",
            Self::TooLong => "too_long",
            Self::OutOfRange => "out_of_range",
            Self::InvalidSlotGrid => "invalid_slot_grid",
            Self::OffGrid => "off_grid",
            Self::UnknownTimeZone => "unknown_time_zone",
            Self::InvalidTime => "invalid_time",
            Self::EndNotAfterStart => "end_not_after_start",
            Self::Overlapping => "overlapping",
            Self::OverlapsOtherLocation => "overlaps_other_location",
            Self::TooMany => "too_many",
            Self::RangeTooLong => "range_too_long",
            Self::Inactive => "inactive",
        }
    }
}

impl fmt::Display for ValidationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem with one input field.
///
/// `field` names the field of the input struct the value came from (`duration_minutes`,
/// `intervals[2].end`); when the HTTP request uses the same names it can be passed through
/// as the problem+json field pointer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{field} ({code}): {message}")]
pub struct ValidationError {
    pub field: String,
    pub code: ValidationCode,
    /// Plain English for the person filling in the form.
    pub message: String,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, code: ValidationCode, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            code,
            message: message.into(),
        }
    }

    /// The same problem reported against another field name: atomic types such as
    /// [`Minutes`](super::Minutes) do not know which field of a request they were read from.
    #[must_use]
    pub fn for_field(mut self, field: impl Into<String>) -> Self {
        self.field = field.into();
        self
    }
}

/// Every problem found in one input, in field order. Never empty when returned as an error.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(transparent)]
pub struct ValidationErrors(Vec<ValidationError>);

impl ValidationErrors {
    pub fn as_slice(&self) -> &[ValidationError] {
        &self.0
    }

    pub fn into_vec(self) -> Vec<ValidationError> {
        self.0
    }

    /// Whether any problem has this code (convenient in tests and for logging).
    pub fn has(&self, field: &str, code: ValidationCode) -> bool {
        self.0
            .iter()
            .any(|error| error.field == field && error.code == code)
    }

    pub(crate) fn push(&mut self, error: ValidationError) {
        self.0.push(error);
    }

    pub(crate) fn extend(&mut self, errors: impl IntoIterator<Item = ValidationError>) {
        self.0.extend(errors);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// `Ok(value)` when nothing was found, else `Err(self)`.
    pub(crate) fn into_result<T>(self, value: T) -> Result<T, Self> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} problem(s)", self.0.len())?;
        for (index, error) in self.0.iter().enumerate() {
            let separator = if index == 0 { ": " } else { "; " };
            write!(f, "{separator}{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ValidationErrors {}

impl From<ValidationError> for ValidationErrors {
    fn from(error: ValidationError) -> Self {
        Self(vec![error])
    }
}

impl FromIterator<ValidationError> for ValidationErrors {
    fn from_iter<I: IntoIterator<Item = ValidationError>>(errors: I) -> Self {
        Self(errors.into_iter().collect())
    }
}

impl IntoIterator for ValidationErrors {
    type Item = ValidationError;
    type IntoIter = std::vec::IntoIter<ValidationError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a ValidationErrors {
    type Item = &'a ValidationError;
    type IntoIter = std::slice::Iter<'a, ValidationError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}
