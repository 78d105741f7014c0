//! Accounts: registration, email verification, login and tokens, invitations, staff users.
