//! The model at the bottom of the pipeline: finding codes, severities, findings and pidfile states.
//! It imports nothing else of the crate; every later stage speaks in its terms.

pub mod code;
pub mod finding;
pub mod state;
pub mod text;

pub use code::{Code, CodeDoc};
pub use finding::{Evidence, Finding, Severity};
pub use state::State;
