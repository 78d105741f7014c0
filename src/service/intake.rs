//! Intakes: drafts, submission, scoring and judgement by the red-flag rules.
