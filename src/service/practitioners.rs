//! Practitioners: their records, weekly hours, time off and calendar feed.
