//! App logs, kept by the host per app (`hangar logs <app>`).

use crate::__wit::hangar::app::log::{Level, log};

/// Debug detail.
pub fn debug(message: &str) {
    log(Level::Debug, message);
}
/// Normal operation.
pub fn info(message: &str) {
    log(Level::Info, message);
}
/// Something odd.
pub fn warn(message: &str) {
    log(Level::Warn, message);
}
/// Something failed.
pub fn error(message: &str) {
    log(Level::Error, message);
}
