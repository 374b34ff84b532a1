//! Use cases: what several functions do, written once over the store traits
//! (`docs/architecture.md`, "Use cases"). Handlers parse and answer; these decide.

pub mod ai;
pub mod analytics;
pub mod autoreply;
pub mod channels;
pub mod conversations;
pub mod events;
pub mod leads;
pub mod limits;
pub mod send;
pub mod webhooks;

/// A record a use case made, or the one that was there already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome<T> {
    Created(T),
    Existing(T),
}

impl<T> Outcome<T> {
    pub fn into_inner(self) -> T {
        match self {
            Outcome::Created(t) | Outcome::Existing(t) => t,
        }
    }

    pub fn is_created(&self) -> bool {
        matches!(self, Outcome::Created(_))
    }
}
