//! Utilities every stage may use: order-keeping parallel maps and time parsing. Pure of the
//! pipeline: nothing here imports another module of the crate.

pub mod parallel;
pub mod time;
