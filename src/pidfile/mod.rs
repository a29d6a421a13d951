//! Pidfiles: how their content is parsed (`parse`, pure) and how they are read safely (`read`, and
//! `chase` for symlinked ones).

pub mod chase;
pub mod parse;
pub mod read;

pub use chase::{Chase, Refusal};
pub use parse::{parse, Format, Invalid, Malformed, Parsed};
pub use read::{read_at, read_candidates, FileFacts, FileKind, ReadOutcome, Unsettled, READ_CAP};
