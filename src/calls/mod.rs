//! Phone calls: live ones answered by an agent, and (later) imported history.

pub mod start;
