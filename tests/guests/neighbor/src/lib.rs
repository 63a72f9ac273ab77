//! The probe's code under another app id, for isolation tests.
include!("../../probe/src/lib.rs");
