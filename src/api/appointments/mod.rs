//! `/api/v1/availability` and `/api/v1/appointments`, by area: free times, booking, the
//! appointment's life, and the lists. Each handler turns the request into a command for
//! `service::{availability, booking, appointments}` and the outcome into a response.

mod availability;
mod booking;
mod lifecycle;
mod views;

pub use availability::AvailabilityApi;
pub use booking::BookingApi;
pub use lifecycle::LifecycleApi;
pub use views::{AppointmentList, AppointmentStatusView, AppointmentView, AppointmentViewsApi};

/// The scheduling area of the API, as one `OpenApi`.
pub type AppointmentsApi = (
    AvailabilityApi,
    BookingApi,
    LifecycleApi,
    AppointmentViewsApi,
);

/// [`AppointmentsApi`]'s value, to mount.
pub const APPOINTMENTS_API: AppointmentsApi = (
    AvailabilityApi,
    BookingApi,
    LifecycleApi,
    AppointmentViewsApi,
);
