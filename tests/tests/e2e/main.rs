//! Hangar's end-to-end tests: real guest components through the real host,
//! real SQLite files and real `hangar` processes. One test binary (it
//! links once), one module per area.

mod audit;
mod cli;
mod crash;
mod declared;
mod delivery;
mod disk;
mod embedding;
mod hostile;
mod interact;
mod jobs;
mod lifecycle;
mod matrix;
mod packages;
mod persistence;
mod pipeline;
mod postgres;
mod serve;
mod shared;
mod surface;
mod web;
