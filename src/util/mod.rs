//! Utilities every stage may use: order-keeping parallel maps, time parsing, suggestions. Pure of the
//! pipeline: nothing here imports another module of the crate.

pub mod parallel;
pub mod suggest;
pub mod time;
