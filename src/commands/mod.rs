//! Commands: each a thin function from a validated configuration to an outcome the command line
//! renders. They judge and act; they never print.

pub mod explain;
pub mod fix;
pub mod scan;
pub mod status;
pub mod undo;
