//! Typed record ids where a swap is easy: a practitioner's id cannot be passed where a
//! location's is expected (`find(practitioner, location, start)` used to take two `Uuid`s).
//! Each wraps the `Uuid` the database stores, and serialises exactly as it does.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            pub const fn new(id: Uuid) -> Self {
                Self(id)
            }

            /// The id as stored.
            pub const fn uuid(self) -> Uuid {
                self.0
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        /// Bound as the `Uuid` it wraps in the store's queries.
        impl From<$name> for sea_orm::Value {
            fn from(id: $name) -> Self {
                id.0.into()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

typed_id!(
    /// A patient record (`patients.id`), not the patient's login account.
    PatientId
);
typed_id!(
    /// A practitioner (`practitioners.id`), not the practitioner's login account.
    PractitionerId
);
typed_id!(
    /// A clinic location (`locations.id`).
    LocationId
);
typed_id!(
    /// An appointment type (`appointment_types.id`).
    AppointmentTypeId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_serialises_and_prints_as_the_uuid_it_wraps() {
        let uuid = Uuid::now_v7();
        let id = PractitionerId::from(uuid);
        assert_eq!(
            serde_json::to_value(id).unwrap(),
            serde_json::to_value(uuid).unwrap()
        );
        assert_eq!(id.to_string(), uuid.to_string());
        assert_eq!(Uuid::from(id), uuid);
        let read: LocationId = serde_json::from_value(serde_json::to_value(uuid).unwrap()).unwrap();
        assert_eq!(read.uuid(), uuid);
    }
}
